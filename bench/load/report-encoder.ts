import { create } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { HeartbeatRequestSchema, type HeartbeatRequest } from "../../gen/apiary/v1/queen_pb.js";
import type { GpuDevice, HiveReport, WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";

/**
 * A hand-written protobuf encoder for the reports the simulator builds. protobuf-es's reflective
 * toBinary costs ~0.5 ms per 3 KB report on the bench machine, which would make the load
 * generator, not the queen, the bottleneck. This writes the same wire bytes (checked against
 * fromBinary by `bench/figures/self-check.ts`) with the simulator's constant strings encoded once.
 * Only fields the simulator sets are written; proto3 defaults are skipped as protobuf-es does.
 */
const utf8 = new TextEncoder();
const cache = new Map<string, Uint8Array>();

function str(w: BinaryWriter, field: number, value: string): void {
  if (value === "") return;
  let bytes = cache.get(value);
  if (!bytes) {
    bytes = utf8.encode(value);
    if (cache.size < 500_000) cache.set(value, bytes);
  }
  w.tag(field, WireType.LengthDelimited).bytes(bytes);
}

function dbl(w: BinaryWriter, field: number, value: number | undefined): void {
  if (value !== undefined) w.tag(field, WireType.Bit64).double(value);
}

function u64(w: BinaryWriter, field: number, value: bigint | undefined, implicit = false): void {
  if (value === undefined || (implicit && value === 0n)) return;
  w.tag(field, WireType.Varint).uint64(value);
}

function u32(w: BinaryWriter, field: number, value: number | undefined, implicit = false): void {
  if (value === undefined || (implicit && value === 0)) return;
  w.tag(field, WireType.Varint).uint32(value);
}

function secondsNanos(w: BinaryWriter, field: number, value: { seconds: bigint; nanos: number } | undefined): void {
  if (!value) return;
  w.tag(field, WireType.LengthDelimited).fork();
  if (value.seconds !== 0n) w.tag(1, WireType.Varint).int64(value.seconds);
  if (value.nanos !== 0) w.tag(2, WireType.Varint).int32(value.nanos);
  w.join();
}

function device(w: BinaryWriter, d: GpuDevice): void {
  u32(w, 1, d.index, true);
  str(w, 2, d.uuid);
  str(w, 3, d.name);
  u64(w, 4, d.memoryTotalBytes);
  u64(w, 5, d.memoryUsedBytes);
  dbl(w, 6, d.utilizationPct);
  dbl(w, 7, d.temperatureC);
  dbl(w, 8, d.powerDrawW);
  dbl(w, 9, d.powerLimitW);
  str(w, 10, d.computeCapability);
  str(w, 11, d.pciBusId);
  dbl(w, 12, d.memoryUtilizationPct);
}

function worker(w: BinaryWriter, t: WorkerTelemetry): void {
  str(w, 1, t.workerId);
  if (t.pid !== 0) w.tag(2, WireType.Varint).int32(t.pid);
  str(w, 3, t.model);
  for (const uuid of t.gpuUuids) w.tag(4, WireType.LengthDelimited).bytes(cached(uuid));
  u32(w, 5, t.state, true);
  secondsNanos(w, 6, t.startedAt);
  dbl(w, 7, t.cpuPct);
  u64(w, 8, t.memoryRssBytes);
  dbl(w, 9, t.ioReadBytesPerSec);
  dbl(w, 10, t.ioWriteBytesPerSec);
  dbl(w, 11, t.gpuUtilizationPct);
  u64(w, 12, t.vramUsedBytes);
  if (t.limits) {
    w.tag(13, WireType.LengthDelimited).fork();
    u64(w, 1, t.limits.memoryMaxBytes);
    u32(w, 2, t.limits.cpuMaxMillicores);
    u32(w, 3, t.limits.pidsMax);
    if (t.limits.enforced) w.tag(4, WireType.Varint).bool(true);
    w.join();
  }
  if (t.exitCode !== undefined) w.tag(14, WireType.Varint).int32(t.exitCode);
  str(w, 15, t.exitSignal);
  for (const key of Object.keys(t.labels)) {
    w.tag(16, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).bytes(cached(key));
    w.tag(2, WireType.LengthDelimited).bytes(cached(t.labels[key]));
    w.join();
  }
  for (const arg of t.argv) w.tag(18, WireType.LengthDelimited).bytes(cached(arg));
  str(w, 19, t.logPath);
  u32(w, 20, t.processCount, true);
  str(w, 21, t.cgroupPath);
  secondsNanos(w, 22, t.uptime);
}

function cached(value: string): Uint8Array {
  let bytes = cache.get(value);
  if (!bytes) {
    bytes = utf8.encode(value);
    if (cache.size < 500_000) cache.set(value, bytes);
  }
  return bytes;
}

/** The wire bytes of a HiveReport (errors and worker errors are not written: the simulator sets none). */
export function encodeReport(report: HiveReport): Uint8Array {
  const w = new BinaryWriter();
  u64(w, 1, report.seq, true);
  secondsNanos(w, 2, report.collectedAt);
  for (const d of report.devices) {
    w.tag(3, WireType.LengthDelimited).fork();
    device(w, d);
    w.join();
  }
  for (const t of report.workers) {
    w.tag(4, WireType.LengthDelimited).fork();
    worker(w, t);
    w.join();
  }
  u64(w, 5, report.memoryAvailableBytes);
  if (report.gpuProbe) {
    w.tag(6, WireType.LengthDelimited).fork();
    u32(w, 1, report.gpuProbe.state, true);
    str(w, 2, report.gpuProbe.message);
    w.join();
  }
  return w.finish();
}

/**
 * A HeartbeatRequest carrying already-encoded report bytes as field 2 (the `report` case of the
 * oneof). protobuf-es writes unknown fields verbatim, so the connect client's toBinary copies the
 * bytes instead of re-encoding the report; the queen receives an ordinary report.
 */
export function preEncodedReportRequest(reportBytes: Uint8Array): HeartbeatRequest {
  const length = new BinaryWriter().uint32(reportBytes.length).finish();
  const data = new Uint8Array(length.length + reportBytes.length);
  data.set(length, 0);
  data.set(reportBytes, length.length);
  const request = create(HeartbeatRequestSchema);
  (request as { $unknown?: { no: number; wireType: WireType; data: Uint8Array }[] }).$unknown = [
    { no: 2, wireType: WireType.LengthDelimited, data },
  ];
  return request;
}
