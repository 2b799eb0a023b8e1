import { create, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { HiveEventSchema, WatchResponseSchema, WorkerEventSchema, type WatchEvent, type WatchResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { wireBytesOf } from "../ingest/wire-bytes.js";
import type { ChangeType, RegistryEvent } from "../registry/registry.js";
import { hiveStatusParts, writeHiveStatus, type HiveStatusParts } from "./hive-status-bytes.js";
import { varintSize, writeVarint } from "./varint.js";

/** An event as one watcher sees it (its filter may make the type differ from the event's own). */
export interface TypedEvent {
  readonly event: RegistryEvent;
  readonly type: ChangeType;
}

/** WatchResponse's own fields, written by encodeWatchResponse. */
const TAG_RESPONSE_REVISION = (1 << 3) | WireType.Varint;
const TAG_RESPONSE_EPOCH = (2 << 3) | WireType.LengthDelimited;
const TAG_RESPONSE_SNAPSHOT = (7 << 3) | WireType.Varint;
const TAG_RESPONSE_RESUME_TOKEN = (11 << 3) | WireType.LengthDelimited;
/** WatchResponse field numbers of the oneof cases carried pre-encoded. */
const HIVE_FIELD = 3;
const WORKER_FIELD = 4;
const BATCH_FIELD = 10;
/** Tags (field number << 3 | wire type) inside a batch: WatchBatch.events, WatchEvent.revision, .hive, .worker. */
const TAG_BATCH_EVENT = (1 << 3) | WireType.LengthDelimited;
const TAG_EVENT_REVISION = (1 << 3) | WireType.Varint;
const TAG_EVENT_HIVE = (2 << 3) | WireType.LengthDelimited;
const TAG_EVENT_WORKER = (3 << 3) | WireType.LengthDelimited;
/** HiveEvent's tags: type, hive. */
const TAG_HIVE_EVENT_TYPE = (1 << 3) | WireType.Varint;
const TAG_HIVE_EVENT_HIVE = (2 << 3) | WireType.LengthDelimited;
/** WorkerEvent's tags: type, hive_id, worker. */
const TAG_WORKER_EVENT_TYPE = (1 << 3) | WireType.Varint;
const TAG_WORKER_EVENT_HIVE_ID = (2 << 3) | WireType.LengthDelimited;
const TAG_WORKER_EVENT_WORKER = (3 << 3) | WireType.LengthDelimited;

interface UnknownField {
  no: number;
  wireType: WireType;
  data: Uint8Array;
}

/** One type an event was sent as: `field` null once sent to one watcher, the encoded field from the second on. */
interface EncodedAs {
  readonly type: ChangeType;
  field: UnknownField | null;
  /** Another type (a watcher's filter can make an UPDATED an ADDED or REMOVED): rare, so a list. */
  next: EncodedAs | undefined;
}

/**
 * Per event, the types it was sent as: a non-enumerable symbol property of the event, not a
 * WeakMap (thousands of events a second would make it an ephemeron table the GC walks at every
 * collection; see ingest/wire-bytes.ts), and not copied by a spread of the event.
 */
const ENCODED = Symbol("apiary.encodedAs");

type WithEncoded = RegistryEvent & { [ENCODED]?: EncodedAs };

function firstEncoded(event: RegistryEvent): EncodedAs | undefined {
  return (event as WithEncoded)[ENCODED];
}

function findEncoded(event: RegistryEvent, type: ChangeType): EncodedAs | undefined {
  for (let e = firstEncoded(event); e !== undefined; e = e.next) if (e.type === type) return e;
  return undefined;
}

/** The encoded field kept with the event for `type`, if any (tests: what a snapshot's events hold). */
export function keptFieldOf(event: RegistryEvent, type: ChangeType): Uint8Array | undefined {
  return findEncoded(event, type)?.field?.data;
}

/** The event's entry for `type`, made on first use. */
function encodedAs(event: RegistryEvent, type: ChangeType): EncodedAs {
  const found = findEncoded(event, type);
  if (found) return found;
  const next = firstEncoded(event);
  const entry: EncodedAs = { type, field: null, next };
  if (next === undefined) Object.defineProperty(event, ENCODED, { value: entry, writable: true, enumerable: false, configurable: true });
  else (event as WithEncoded)[ENCODED] = entry;
  return entry;
}

/**
 * A WatchResponse for an event whose `hive`/`worker` part is encoded once and shared by every
 * further watcher that receives it, instead of encoding the same telemetry again per watcher
 * (measured: 45 µs per message encoded apart, 9 µs with 10 watchers per event, 5 µs with 100).
 * protobuf-es writes a message's unknown fields verbatim (after its known fields: with `snapshot`
 * set, the field order differs, which every protobuf parser accepts), so it decodes to exactly the
 * ordinary message. Binary codecs only: the JSON codec ignores unknown fields, so JSON clients get
 * ordinary messages (see eventResponse).
 */
export function preEncodedEventResponse(event: RegistryEvent, type: ChangeType, epoch: string, snapshot: boolean, revision = event.revision): WatchResponse {
  let entry = findEncoded(event, type);
  // A hive's status and a worker that kept its wire bytes are encoded cheaply (hive-status-bytes.ts).
  const cheap = event.kind === "hive" || wireBytesOf(event.worker) !== undefined;
  if (snapshot && entry?.field == null && cheap) {
    // A snapshot event is sent once per stream that took it: a field kept with it would be held
    // until the stream has sent its whole snapshot (see batchResponse).
    return withField(create(WatchResponseSchema, { revision: BigInt(revision), epoch, snapshot }), encodeEventField(event, type));
  }
  if (entry === undefined && !cheap) {
    // Most events reach one watcher only (each watching its own hives): encoding them apart would
    // cost more, unless they encode cheaply.
    encodedAs(event, type);
    return eventResponse(event, type, epoch, snapshot, revision);
  }
  entry ??= encodedAs(event, type);
  const field = (entry.field ??= encodeEventField(event, type));
  return withField(create(WatchResponseSchema, { revision: BigInt(revision), epoch, snapshot }), field);
}

function withField(response: WatchResponse, field: UnknownField): WatchResponse {
  (response as { $unknown?: UnknownField[] }).$unknown = [field];
  return response;
}

/** The ordinary WatchResponse for an event, as watchers see it with `type`, stamped with `revision` (the stream's resume point). */
export function eventResponse(event: RegistryEvent, type: ChangeType, epoch: string, snapshot: boolean, revision = event.revision): WatchResponse {
  return create(WatchResponseSchema, {
    revision: BigInt(revision),
    epoch,
    snapshot,
    kind:
      event.kind === "hive"
        ? { case: "hive", value: { type: type as number, hive: event.hive } }
        : { case: "worker", value: { type: type as number, hiveId: event.hiveId, worker: event.worker } },
  });
}

/**
 * A WatchResponse carrying several events in its `batch` case, stamped with `revision` (the
 * stream's resume point after them). Binary codecs: each event's bytes are encoded once and shared
 * with every watcher (a batch is copied together from them); JSON: an ordinary message.
 */
export function batchResponse(changes: readonly TypedEvent[], epoch: string, snapshot: boolean, revision: number, binary: boolean): WatchResponse {
  if (!binary) {
    const events = changes.map(({ event, type }): Omit<WatchEvent, "$typeName"> => ({
      revision: BigInt(event.revision),
      kind:
        event.kind === "hive"
          ? { case: "hive", value: create(HiveEventSchema, { type: type as number, hive: event.hive }) }
          : { case: "worker", value: create(WorkerEventSchema, { type: type as number, hiveId: event.hiveId, worker: event.worker }) },
    }));
    return create(WatchResponseSchema, { revision: BigInt(revision), epoch, snapshot, kind: { case: "batch", value: { events } } });
  }
  // A worker whose bytes are at hand, and a snapshot's hive, are written straight into the batch:
  // a field kept with the event would live as long as the event (a snapshot's events live until
  // the stream has sent them all: with 50 watchers re-snapshotting 9,000 workers, ~180 MB of
  // copies held), for a copy the batch makes anyway.
  const parts: (UnknownField | DirectWorker | DirectHive)[] = [];
  const sizes: number[] = [];
  let total = 0;
  for (const { event, type } of changes) {
    const part = findEncoded(event, type)?.field ?? directPart(event, type, snapshot) ?? sharedField(event, type);
    const fieldSize = "data" in part ? part.data.length : varintSize(part.body) + part.body;
    const size = 1 + varintSize(event.revision) + 1 + fieldSize;
    parts.push(part);
    sizes.push(size);
    total += 1 + varintSize(size) + size;
  }
  const data = transientBytes(varintSize(total) + total);
  let pos = writeVarint(data, 0, total);
  for (let i = 0; i < changes.length; i++) {
    const part = parts[i];
    data[pos++] = TAG_BATCH_EVENT;
    pos = writeVarint(data, pos, sizes[i]);
    data[pos++] = TAG_EVENT_REVISION;
    pos = writeVarint(data, pos, changes[i].event.revision);
    if ("data" in part) {
      data[pos++] = part.no === HIVE_FIELD ? TAG_EVENT_HIVE : TAG_EVENT_WORKER;
      data.set(part.data, pos); // already length-prefixed
      pos += part.data.length;
    } else if ("hive" in part) {
      data[pos++] = TAG_EVENT_HIVE;
      pos = writeHiveEventField(data, pos, part);
    } else {
      data[pos++] = TAG_EVENT_WORKER;
      pos = writeWorkerEventField(data, pos, part);
    }
  }
  const response = create(WatchResponseSchema, { revision: BigInt(revision), epoch, snapshot });
  (response as { $unknown?: UnknownField[] }).$unknown = [{ no: BATCH_FIELD, wireType: WireType.LengthDelimited, data }];
  return response;
}

/** The event to write straight into a batch: a worker whose bytes are at hand, a snapshot's hive. */
function directPart(event: RegistryEvent, type: ChangeType, snapshot: boolean): DirectWorker | DirectHive | undefined {
  if (event.kind === "worker") {
    const worker = wireBytesOf(event.worker);
    return worker !== undefined ? directWorker(type, event.hiveId, worker) : undefined;
  }
  if (!snapshot) return undefined;
  const hive = hiveStatusParts(event.hive);
  return hive !== undefined ? directHive(type, hive) : undefined;
}

/**
 * A WatchResponse's bytes, exactly as toBinary writes them; one carrying a pre-encoded event or
 * batch is written in one buffer of its final size (toBinary grows its buffer by doubling).
 */
export function encodeWatchResponse(response: WatchResponse): Uint8Array {
  const unknown = (response as { $unknown?: UnknownField[] }).$unknown;
  if (response.kind.case !== undefined || unknown?.length !== 1 || unknown[0].wireType !== WireType.LengthDelimited || response.revision > BigInt(Number.MAX_SAFE_INTEGER)) {
    return toBinary(WatchResponseSchema, response);
  }
  const field = unknown[0];
  const revision = Number(response.revision);
  const epoch = response.epoch === "" ? undefined : epochBytes(response.epoch);
  const fieldTag = (field.no << 3) | WireType.LengthDelimited;
  let size = varintSize(fieldTag) + field.data.length; // data is already length-prefixed
  if (revision !== 0) size += 1 + varintSize(revision);
  if (epoch) size += 1 + varintSize(epoch.length) + epoch.length;
  if (response.snapshot) size += 2;
  const token = response.resumeToken;
  if (token.length > 0) size += 1 + varintSize(token.length) + token.length;
  const out = transientBytes(size);
  let pos = 0;
  if (revision !== 0) {
    out[pos++] = TAG_RESPONSE_REVISION;
    pos = writeVarint(out, pos, revision);
  }
  if (epoch) {
    out[pos++] = TAG_RESPONSE_EPOCH;
    pos = writeVarint(out, pos, epoch.length);
    out.set(epoch, pos);
    pos += epoch.length;
  }
  if (response.snapshot) {
    out[pos++] = TAG_RESPONSE_SNAPSHOT;
    out[pos++] = 1;
  }
  if (token.length > 0) {
    out[pos++] = TAG_RESPONSE_RESUME_TOKEN;
    pos = writeVarint(out, pos, token.length);
    out.set(token, pos);
    pos += token.length;
  }
  pos = writeVarint(out, pos, fieldTag);
  out.set(field.data, pos);
  return out;
}

/**
 * Bytes every one of which the caller writes, for a message that is sent and dropped: from Node's
 * buffer pool when small (a small Uint8Array of its own is allocated and freed off the JS heap,
 * ~2 µs each, per message per watcher). Not for bytes kept with an event: a kept slice would hold
 * its whole pool slab.
 */
function transientBytes(size: number): Uint8Array {
  return Buffer.allocUnsafe(size);
}

/** A queen has one epoch, and a batch holds runs of one hive's workers (a snapshot goes hive by hive). */
const epochBytes = lastUtf8();
const hiveIdBytesOf = lastUtf8();

/** The UTF-8 bytes of a string, encoded again only when it differs from the last one asked for. */
function lastUtf8(): (text: string) => Uint8Array {
  let last: { text: string; bytes: Uint8Array } | undefined;
  return (text) => {
    if (last?.text !== text) last = { text, bytes: Buffer.from(text, "utf8") };
    return last.bytes;
  };
}

/** The event's encoded `hive`/`worker` field for `type`, encoded on first use and kept with the event. */
function sharedField(event: RegistryEvent, type: ChangeType): UnknownField {
  const entry = encodedAs(event, type);
  return (entry.field ??= encodeEventField(event, type));
}

function encodeEventField(event: RegistryEvent, type: ChangeType): UnknownField {
  if (event.kind === "worker") {
    const worker = wireBytesOf(event.worker);
    if (worker !== undefined) return { no: WORKER_FIELD, wireType: WireType.LengthDelimited, data: ownField(directWorker(type, event.hiveId, worker), writeWorkerEventField) };
  }
  if (event.kind === "hive") {
    const hive = hiveStatusParts(event.hive);
    const data = hive !== undefined ? ownField(directHive(type, hive), writeHiveEventField) : lengthPrefixed(toBinary(HiveEventSchema, create(HiveEventSchema, { type: type as number, hive: event.hive })));
    return { no: HIVE_FIELD, wireType: WireType.LengthDelimited, data };
  }
  const body = toBinary(WorkerEventSchema, create(WorkerEventSchema, { type: type as number, hiveId: event.hiveId, worker: event.worker }));
  return { no: WORKER_FIELD, wireType: WireType.LengthDelimited, data: lengthPrefixed(body) };
}

/** A HiveEvent around a hive's status in parts (hive-status-bytes.ts), not yet written. */
interface DirectHive {
  readonly type: ChangeType;
  readonly hive: HiveStatusParts;
  /** The HiveEvent's length, without its own length prefix. */
  readonly body: number;
}

function directHive(type: ChangeType, hive: HiveStatusParts): DirectHive {
  // type is never 0 (EVENT_TYPE_UNSPECIFIED), so always on the wire.
  return { type, hive, body: 1 + varintSize(type) + 1 + varintSize(hive.size) + hive.size };
}

/** A part written as a length-prefixed field in a buffer of its own (kept with its event). */
function ownField<P extends { readonly body: number }>(part: P, write: (data: Uint8Array, pos: number, part: P) => number): Uint8Array {
  const data = new Uint8Array(varintSize(part.body) + part.body);
  write(data, 0, part);
  return data;
}

/** Writes the length-prefixed HiveEvent at pos; returns the position after it. */
function writeHiveEventField(data: Uint8Array, pos: number, part: DirectHive): number {
  pos = writeVarint(data, pos, part.body);
  data[pos++] = TAG_HIVE_EVENT_TYPE;
  pos = writeVarint(data, pos, part.type);
  data[pos++] = TAG_HIVE_EVENT_HIVE;
  pos = writeVarint(data, pos, part.hive.size);
  return writeHiveStatus(data, pos, part.hive);
}

/** The bytes behind their varint length, as a field's value on the wire: one allocation (a BinaryWriter takes three). */
function lengthPrefixed(body: Uint8Array): Uint8Array {
  const data = new Uint8Array(varintSize(body.length) + body.length);
  data.set(body, writeVarint(data, 0, body.length));
  return data;
}

/** A WorkerEvent around a worker's bytes as they came from its hive, not yet written. */
interface DirectWorker {
  readonly type: ChangeType;
  readonly hiveId: Uint8Array;
  readonly worker: Uint8Array;
  /** The WorkerEvent's length, without its own length prefix. */
  readonly body: number;
}

function directWorker(type: ChangeType, hiveId: string, worker: Uint8Array): DirectWorker {
  const hiveIdBytes = hiveIdBytesOf(hiveId);
  // type is never 0 (EVENT_TYPE_UNSPECIFIED), so always on the wire.
  let body = 1 + varintSize(type) + 1 + varintSize(worker.length) + worker.length;
  if (hiveIdBytes.length > 0) body += 1 + varintSize(hiveIdBytes.length) + hiveIdBytes.length;
  return { type, hiveId: hiveIdBytes, worker, body };
}

/** Writes the length-prefixed WorkerEvent at pos; returns the position after it. */
function writeWorkerEventField(data: Uint8Array, pos: number, part: DirectWorker): number {
  pos = writeVarint(data, pos, part.body);
  data[pos++] = TAG_WORKER_EVENT_TYPE;
  pos = writeVarint(data, pos, part.type);
  if (part.hiveId.length > 0) {
    data[pos++] = TAG_WORKER_EVENT_HIVE_ID;
    pos = writeVarint(data, pos, part.hiveId.length);
    data.set(part.hiveId, pos);
    pos += part.hiveId.length;
  }
  data[pos++] = TAG_WORKER_EVENT_WORKER;
  pos = writeVarint(data, pos, part.worker.length);
  data.set(part.worker, pos);
  return pos + part.worker.length;
}
