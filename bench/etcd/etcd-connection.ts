import * as grpc from "@grpc/grpc-js";
import { ETCD_METHODS, decodeLeaseGrant, encodeKeepAlive, encodeLeaseGrant, passthrough } from "./etcd-wire.js";

/**
 * One HTTP/2 connection to etcd (its own grpc-js channel) shared by several simulated hives, with
 * one LeaseKeepAlive stream that renews every hive's lease at a third of its TTL, as etcd clients do.
 */
export class EtcdConnection {
  readonly client: grpc.Client;
  private keepAlive: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private readonly leases: bigint[] = [];
  private timer: NodeJS.Timeout | undefined;
  private cursor = 0;

  constructor(
    address: string,
    index: number,
    private readonly ttlSeconds: number,
  ) {
    // A distinct option value keeps grpc-js from sharing one subchannel between all clients.
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      "grpc.use_local_subchannel_pool": 1,
      "bench.connection": index,
      "grpc.max_receive_message_length": 16 * 1024 * 1024,
    });
  }

  grantLease(): Promise<bigint> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        ETCD_METHODS.leaseGrant,
        passthrough.serialize,
        passthrough.deserialize,
        encodeLeaseGrant(this.ttlSeconds),
        { deadline: Date.now() + 30_000 },
        (err, reply) => {
          if (err || !reply) return reject(err ?? new Error("no LeaseGrant reply"));
          const { id, error } = decodeLeaseGrant(reply);
          if (error) return reject(new Error(`LeaseGrant: ${error}`));
          this.leases.push(id);
          this.startKeepAlive();
          resolve(id);
        },
      );
    });
  }

  /** Renews leases round-robin, every lease once per ttl/3, in slices every 250 ms. */
  private startKeepAlive(): void {
    if (this.timer) return;
    this.keepAlive = this.client.makeBidiStreamRequest(ETCD_METHODS.leaseKeepAlive, passthrough.serialize, passthrough.deserialize);
    this.keepAlive.on("data", () => {});
    this.keepAlive.on("error", () => {});
    const sliceMs = 250;
    this.timer = setInterval(() => {
      const perSlice = Math.ceil((this.leases.length * sliceMs) / ((this.ttlSeconds * 1000) / 3));
      for (let i = 0; i < perSlice && this.leases.length > 0; i++) {
        this.keepAlive?.write(encodeKeepAlive(this.leases[this.cursor++ % this.leases.length]));
      }
    }, sliceMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.keepAlive?.cancel();
    this.client.close();
  }
}
