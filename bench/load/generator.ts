import type { Transport } from "@connectrpc/connect";
import { normalizeAddress } from "../../src/common/queen-addresses.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { EtcdConnection } from "../etcd/etcd-connection.js";
import { EtcdBenchHive } from "../etcd/etcd-hive.js";
import { ApiaryBenchHive, type BenchHive } from "./apiary-hive.js";
import { RawGrpcConnection, RawGrpcHive } from "./raw-grpc-hive.js";
import { LoadCounters, type WindowStats } from "./load-stats.js";
import { SimulatedHive, hiveId, type ClusterShape } from "./telemetry-model.js";
import { BenchHiveCerts, type BenchTls } from "./bench-tls.js";

export interface GeneratorConfig extends ClusterShape {
  /** "apiary": QueenService Heartbeat (the queen, or the grpc-js ack server); "etcd": lease + put per report. */
  target: "apiary" | "etcd";
  /** Heartbeat client: "raw" gRPC framing over node:http2 (default, cheapest) or the connect-node client a hive uses. */
  client: "raw" | "connect";
  /** host:port of the server. */
  address: string;
  /** Global index of this generator's first hive (several generators split one cluster). */
  firstHive: number;
  /** Report interval of every hive. */
  intervalMs: number;
  /** Hives sharing one HTTP/2 connection. */
  hivesPerConnection: number;
  /** A hive with this many unanswered reports skips its next one (counted). */
  maxOutstanding: number;
  /** etcd lease TTL. */
  leaseTtlSeconds: number;
  /** TLS to the queen, each hive with its own certificate (so one hive per connection). */
  tls?: BenchTls;
}

export const DEFAULT_GENERATOR_CONFIG: Omit<GeneratorConfig, "address" | "target"> = {
  client: "raw",
  workers: 8,
  gpus: 2,
  models: 200,
  firstHive: 0,
  intervalMs: 1000,
  hivesPerConnection: 250,
  maxOutstanding: 10,
  leaseTtlSeconds: 10,
};

const PACE_MS = 5;
const CONNECT_CONCURRENCY = 200;

/**
 * Simulates hives that each report once per interval, spread evenly over the interval, on their
 * own stream (apiary) or with their own lease (etcd), many multiplexed per connection. Measures
 * the time from sending a report to its ack.
 */
export class LoadGenerator {
  readonly counters = new LoadCounters();
  private readonly hives: BenchHive[] = [];
  private readonly transports: Transport[] = [];
  private readonly etcdConnections: EtcdConnection[] = [];
  private readonly rawConnections: RawGrpcConnection[] = [];
  private readonly certs: BenchHiveCerts | undefined;
  private readonly hiveCerts = new Map<number, { certPem: string; keyPem: string }>();
  /** Time from opening each TLS connection to its handshake's end, ms. */
  readonly handshakeMs: number[] = [];
  private pacer: NodeJS.Timeout | undefined;
  private cursor = 0;
  private credit = 0;
  private lastPaceMs = performance.now();

  constructor(readonly config: GeneratorConfig) {
    if (config.tls) {
      this.certs = new BenchHiveCerts(config.tls);
      this.config = { ...config, hivesPerConnection: 1 };
    }
  }

  hiveCount(): number {
    return this.hives.length;
  }

  connectedCount(): number {
    let n = 0;
    for (const hive of this.hives) if (hive.connected) n++;
    return n;
  }

  /** Adds hives until there are `total`, connects them (bounded concurrency), and keeps them reporting. */
  async scaleTo(total: number): Promise<void> {
    const added: BenchHive[] = [];
    if (this.certs) {
      for (let local = this.hives.length; local < total; local++) {
        this.hiveCerts.set(local, await this.certs.issue(hiveId(this.config.firstHive + local)));
      }
    }
    while (this.hives.length + added.length < total) {
      const local = this.hives.length + added.length;
      const sim = new SimulatedHive(this.config.firstHive + local, this.config);
      added.push(this.makeHive(sim, local));
    }
    let next = 0;
    const workers = Array.from({ length: Math.min(CONNECT_CONCURRENCY, added.length) }, async () => {
      while (next < added.length) {
        const hive = added[next++];
        await hive.connect();
      }
    });
    await Promise.all(workers);
    this.hives.push(...added);
    this.startPacing();
  }

  private makeHive(sim: SimulatedHive, local: number): BenchHive {
    const connection = Math.floor(local / this.config.hivesPerConnection);
    if (this.config.target === "etcd") {
      while (this.etcdConnections.length <= connection) {
        this.etcdConnections.push(new EtcdConnection(this.config.address, this.config.firstHive * 1000 + this.etcdConnections.length, this.config.leaseTtlSeconds));
      }
      return new EtcdBenchHive(sim, this.etcdConnections[connection], this.counters);
    }
    if (this.config.client === "raw") {
      while (this.rawConnections.length <= connection) {
        this.rawConnections.push(new RawGrpcConnection(this.config.address, this.tlsFor(local), this.handshakeMs));
      }
      return new RawGrpcHive(sim, this.rawConnections[connection], this.counters, this.config.changeFraction);
    }
    while (this.transports.length <= connection) {
      // Pings would only add noise to a loopback benchmark; the stream itself shows liveness.
      const tls = this.tlsFor(local);
      this.transports.push(
        createApiaryTransport(normalizeAddress(this.config.address, tls !== undefined), {
          pingIntervalMs: 60_000,
          pingTimeoutMs: 30_000,
          ...(tls ? { credentials: { ca: tls.ca, cert: tls.cert, key: tls.key } } : {}),
        }),
      );
    }
    return new ApiaryBenchHive(sim, this.transports[connection], this.counters);
  }

  private tlsFor(local: number): { ca: string; cert: string; key: string } | undefined {
    const pair = this.hiveCerts.get(local);
    return pair && this.certs ? { ca: this.certs.ca.certPem, cert: pair.certPem, key: pair.keyPem } : undefined;
  }

  private startPacing(): void {
    if (this.pacer) return;
    this.lastPaceMs = performance.now();
    this.pacer = setInterval(() => this.pace(), PACE_MS);
  }

  /** Sends the reports due since the last call: hives × elapsed / interval, round robin. */
  private pace(): void {
    const now = performance.now();
    const n = this.hives.length;
    if (n === 0) return;
    this.credit += ((now - this.lastPaceMs) * n) / this.config.intervalMs;
    this.lastPaceMs = now;
    // After a stall, catch up at most a quarter interval's worth at once.
    this.credit = Math.min(this.credit, Math.max(1, n / 4));
    while (this.credit >= 1) {
      this.credit -= 1;
      const hive = this.hives[this.cursor];
      this.cursor = (this.cursor + 1) % n;
      if (!hive.connected) continue;
      if (hive.outstanding() >= this.config.maxOutstanding) {
        this.counters.skipped++;
        continue;
      }
      hive.send();
    }
  }

  /** Stats since the previous call, with up to maxSamples latency samples for merging. */
  window(maxSamples = 20_000): WindowStats & { samples: number[]; handshakeMs: number[] } {
    const all = this.counters.samples();
    const step = Math.max(1, Math.ceil(all.length / maxSamples));
    const samples: number[] = [];
    for (let i = 0; i < all.length; i += step) samples.push(Math.round(all[i] * 1000) / 1000);
    return { ...this.counters.take(this.hives.length, this.connectedCount()), samples, handshakeMs: this.handshakeMs.splice(0) };
  }

  /** Stops reporting, says goodbye (apiary) and closes every connection; bounded by each hive's close. */
  async stop(goodbye = true): Promise<void> {
    if (this.pacer) clearInterval(this.pacer);
    this.pacer = undefined;
    await Promise.all(this.hives.map((hive) => hive.close(goodbye).catch(() => {})));
    for (const c of this.etcdConnections) c.close();
    for (const c of this.rawConnections) c.close();
  }
}
