import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

/**
 * The few etcd v3 messages the bench needs (etcdserverpb / mvccpb, etcd 3.4), encoded by hand so
 * the bench can speak etcd's gRPC API with @grpc/grpc-js and no generated code. Field numbers are
 * those of etcd's rpc.proto and kv.proto.
 */
export const ETCD_METHODS = {
  put: "/etcdserverpb.KV/Put",
  leaseGrant: "/etcdserverpb.Lease/LeaseGrant",
  leaseKeepAlive: "/etcdserverpb.Lease/LeaseKeepAlive",
  watch: "/etcdserverpb.Watch/Watch",
} as const;

const utf8 = new TextEncoder();

/** PutRequest{key=1, value=2, lease=3}. */
export function encodePut(key: Uint8Array | string, value: Uint8Array, lease: bigint): Buffer {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).bytes(typeof key === "string" ? utf8.encode(key) : key);
  w.tag(2, WireType.LengthDelimited).bytes(value);
  if (lease !== 0n) w.tag(3, WireType.Varint).int64(lease);
  return Buffer.from(w.finish());
}

/** LeaseGrantRequest{TTL=1}. */
export function encodeLeaseGrant(ttlSeconds: number): Buffer {
  return Buffer.from(new BinaryWriter().tag(1, WireType.Varint).int64(ttlSeconds).finish());
}

/** LeaseGrantResponse{header=1, ID=2, TTL=3, error=4} → the lease id. */
export function decodeLeaseGrant(bytes: Uint8Array): { id: bigint; ttl: bigint; error: string } {
  const r = new BinaryReader(bytes);
  let id = 0n;
  let ttl = 0n;
  let error = "";
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 2) id = BigInt(r.int64());
    else if (no === 3) ttl = BigInt(r.int64());
    else if (no === 4) error = r.string();
    else r.skip(wt, no);
  }
  return { id, ttl, error };
}

/** LeaseKeepAliveRequest{ID=1}. */
export function encodeKeepAlive(id: bigint): Buffer {
  return Buffer.from(new BinaryWriter().tag(1, WireType.Varint).int64(id).finish());
}

/** WatchRequest{create_request=1: WatchCreateRequest{key=1, range_end=2}}. */
export function encodeWatchCreate(key: string, rangeEnd: string): Buffer {
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).fork();
  w.tag(1, WireType.LengthDelimited).bytes(utf8.encode(key));
  if (rangeEnd !== "") w.tag(2, WireType.LengthDelimited).bytes(utf8.encode(rangeEnd));
  w.join();
  return Buffer.from(w.finish());
}

export interface EtcdWatchEvent {
  /** 0 PUT, 1 DELETE. */
  type: number;
  key: Uint8Array;
  value: Uint8Array;
  modRevision: bigint;
}

export interface EtcdWatchResponse {
  watchId: bigint;
  created: boolean;
  canceled: boolean;
  events: EtcdWatchEvent[];
}

/** WatchResponse{header=1, watch_id=2, created=3, canceled=4, …, events=11: mvccpb.Event{type=1, kv=2}}. */
export function decodeWatchResponse(bytes: Uint8Array): EtcdWatchResponse {
  const r = new BinaryReader(bytes);
  const out: EtcdWatchResponse = { watchId: 0n, created: false, canceled: false, events: [] };
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 2) out.watchId = BigInt(r.int64());
    else if (no === 3) out.created = r.bool();
    else if (no === 4) out.canceled = r.bool();
    else if (no === 11) out.events.push(decodeEvent(r.bytes()));
    else r.skip(wt, no);
  }
  return out;
}

function decodeEvent(bytes: Uint8Array): EtcdWatchEvent {
  const r = new BinaryReader(bytes);
  const event: EtcdWatchEvent = { type: 0, key: new Uint8Array(), value: new Uint8Array(), modRevision: 0n };
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1) event.type = r.int32();
    else if (no === 2) {
      // mvccpb.KeyValue{key=1, create_revision=2, mod_revision=3, version=4, value=5, lease=6}
      const kv = new BinaryReader(r.bytes());
      while (kv.pos < kv.len) {
        const [kno, kwt] = kv.tag();
        if (kno === 1) event.key = kv.bytes();
        else if (kno === 3) event.modRevision = BigInt(kv.int64());
        else if (kno === 5) event.value = kv.bytes();
        else kv.skip(kwt, kno);
      }
    } else r.skip(wt, no);
  }
  return event;
}

export const passthrough = {
  serialize: (b: Buffer) => b,
  deserialize: (b: Buffer) => b,
};
