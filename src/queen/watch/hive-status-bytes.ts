import { toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { HiveStatusSchema, type HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import { wireBytesOf } from "../ingest/wire-bytes.js";
import { varintSize, writeVarint } from "./varint.js";

/** HiveStatus's tags for the fields a report moves. */
const TAG_LAST_SEEN = (3 << 3) | WireType.LengthDelimited;
const TAG_DEVICE = (4 << 3) | WireType.LengthDelimited;
const TAG_MEMORY_AVAILABLE = (9 << 3) | WireType.Varint;
const TAG_LAST_SEQ = (11 << 3) | WireType.Varint;
const TAG_SECONDS = (1 << 3) | WireType.Varint;
const TAG_NANOS = (2 << 3) | WireType.Varint;

/** The HiveStatus fields written apart from the stable part. */
export const MOVING_FIELDS = ["last_seen", "devices", "memory_available_bytes", "last_seq"] as const;
/** The HiveStatus fields `sameStablePart` compares; a test fails when the schema gains one that neither list names. */
export const STABLE_FIELDS = ["info", "health", "workers", "incarnation", "connected_at", "gpu_probe", "connected", "errors", "departure", "owner_queen_id"] as const;

/** A hive's status without its moving fields, encoded, with the status it was encoded from. */
interface StablePart {
  readonly of: HiveStatus;
  /** Whether `bytes` hold the devices (some device had no wire bytes). */
  readonly withDevices: boolean;
  readonly bytes: Uint8Array;
}

/**
 * Kept on the hive's HiveInfo (one object per hive, shared by all its statuses until a hello
 * changes it): a non-enumerable symbol property dies with the hive, and needs no table to prune.
 */
const STABLE = Symbol("apiary.hiveStatusStablePart");

type WithStablePart = object & { [STABLE]?: StablePart };

/** The status whose stable part is kept for the hive of `info` (tests: when it is encoded again). */
export function stablePartSource(info: object): HiveStatus | undefined {
  return (info as WithStablePart)[STABLE]?.of;
}

/** A hive's status as Watch writes it: its kept stable part, then the moving fields. */
export interface HiveStatusParts {
  readonly stable: Uint8Array;
  /** Each device's bytes as they came from the hive; undefined when the stable part holds the devices. */
  readonly devices: readonly Uint8Array[] | undefined;
  readonly memoryAvailableBytes: number | undefined;
  readonly lastSeen: Timestamp | undefined;
  readonly lastSeq: number;
  /** The whole status's length on the wire. */
  readonly size: number;
}

/**
 * A HiveStatus's bytes for Watch. A hive's report moves its devices' telemetry, its available
 * memory, last_seen and last_seq; the rest changes rarely. A hive's status is written from that
 * rest, encoded once and kept from the hive's last encoding (a snapshot of 1,000 hives encoded
 * each one again), followed by the moving fields, the devices as their bytes came from the hive.
 * Fields out of number order are accepted by every protobuf parser: the bytes decode to exactly
 * `status`.
 */
export function hiveStatusBytes(status: HiveStatus): Uint8Array {
  const parts = hiveStatusParts(status);
  if (parts === undefined) return toBinary(HiveStatusSchema, status);
  const out = new Uint8Array(parts.size);
  writeHiveStatus(out, 0, parts);
  return out;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The parts of hiveStatusBytes, to write into a larger message; undefined when only toBinary can write the status. */
export function hiveStatusParts(status: HiveStatus): HiveStatusParts | undefined {
  const info = status.info as WithStablePart | undefined;
  const { lastSeen, memoryAvailableBytes } = status;
  if (
    info === undefined ||
    status.lastSeq > MAX_SAFE ||
    (memoryAvailableBytes !== undefined && memoryAvailableBytes > MAX_SAFE) ||
    (lastSeen !== undefined && (lastSeen.seconds < 0n || lastSeen.seconds > MAX_SAFE || lastSeen.nanos < 0))
  ) {
    return undefined;
  }
  const devices = deviceBytes(status);
  let part = info[STABLE];
  if (part === undefined || part.withDevices !== (devices === undefined) || !sameStablePart(part, status)) {
    const withDevices = devices === undefined;
    part = { of: status, withDevices, bytes: toBinary(HiveStatusSchema, { ...status, lastSeen: undefined, devices: withDevices ? status.devices : [], memoryAvailableBytes: undefined, lastSeq: 0n }) };
    if (Object.prototype.hasOwnProperty.call(info, STABLE)) info[STABLE] = part;
    else Object.defineProperty(info, STABLE, { value: part, writable: true, enumerable: false, configurable: true });
  }
  const lastSeq = Number(status.lastSeq);
  const memory = memoryAvailableBytes === undefined ? undefined : Number(memoryAvailableBytes);
  let size = part.bytes.length;
  if (devices !== undefined) for (const d of devices) size += 1 + varintSize(d.length) + d.length;
  if (memory !== undefined) size += 1 + varintSize(memory);
  if (lastSeen !== undefined) {
    const timestamp = timestampSize(lastSeen);
    size += 1 + varintSize(timestamp) + timestamp;
  }
  if (lastSeq !== 0) size += 1 + varintSize(lastSeq);
  return { stable: part.bytes, devices, memoryAvailableBytes: memory, lastSeen, lastSeq, size };
}

/** Each device's wire bytes, or undefined when one has none (it was not decoded from a hive's report). */
function deviceBytes(status: HiveStatus): Uint8Array[] | undefined {
  const out: Uint8Array[] = [];
  for (const device of status.devices) {
    const bytes = wireBytesOf(device);
    if (bytes === undefined) return undefined;
    out.push(bytes);
  }
  return out;
}

/**
 * Whether `status` encodes as the kept part but for its moving fields. The registry replaces a
 * hive's messages on change and never mutates them, so identity stands for equality; a status's
 * lists are copies (compared element by element) and its timestamps and departure are made per status.
 */
function sameStablePart(part: StablePart, b: HiveStatus): boolean {
  const a = part.of;
  return (
    a.info === b.info &&
    a.health === b.health &&
    (!part.withDevices || sameElements(a.devices, b.devices)) &&
    a.workers.length === 0 &&
    b.workers.length === 0 &&
    a.incarnation === b.incarnation &&
    sameTimestamp(a.connectedAt, b.connectedAt) &&
    a.gpuProbe === b.gpuProbe &&
    a.connected === b.connected &&
    sameElements(a.errors, b.errors) &&
    sameDeparture(a.departure, b.departure) &&
    a.ownerQueenId === b.ownerQueenId &&
    (b as { $unknown?: unknown[] }).$unknown === undefined
  );
}

function sameElements<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameTimestamp(a: Timestamp | undefined, b: Timestamp | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.seconds === b.seconds && a.nanos === b.nanos);
}

function sameDeparture(a: HiveStatus["departure"], b: HiveStatus["departure"]): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return a.reason === b.reason && a.workersLeftRunning === b.workersLeftRunning && sameTimestamp(a.leftAt, b.leftAt);
}

function timestampSize(t: Timestamp): number {
  const seconds = Number(t.seconds);
  return (seconds !== 0 ? 1 + varintSize(seconds) : 0) + (t.nanos !== 0 ? 1 + varintSize(t.nanos) : 0);
}

/** Writes the status at `pos` (a zero moving field is not written, as toBinary does); returns the position after it. */
export function writeHiveStatus(out: Uint8Array, pos: number, parts: HiveStatusParts): number {
  out.set(parts.stable, pos);
  pos += parts.stable.length;
  if (parts.devices !== undefined) {
    for (const device of parts.devices) {
      out[pos++] = TAG_DEVICE;
      pos = writeVarint(out, pos, device.length);
      out.set(device, pos);
      pos += device.length;
    }
  }
  if (parts.memoryAvailableBytes !== undefined) {
    out[pos++] = TAG_MEMORY_AVAILABLE;
    pos = writeVarint(out, pos, parts.memoryAvailableBytes);
  }
  const lastSeen = parts.lastSeen;
  if (lastSeen !== undefined) {
    const seconds = Number(lastSeen.seconds);
    out[pos++] = TAG_LAST_SEEN;
    pos = writeVarint(out, pos, timestampSize(lastSeen));
    if (seconds !== 0) {
      out[pos++] = TAG_SECONDS;
      pos = writeVarint(out, pos, seconds);
    }
    if (lastSeen.nanos !== 0) {
      out[pos++] = TAG_NANOS;
      pos = writeVarint(out, pos, lastSeen.nanos);
    }
  }
  if (parts.lastSeq !== 0) {
    out[pos++] = TAG_LAST_SEQ;
    pos = writeVarint(out, pos, parts.lastSeq);
  }
  return pos;
}
