import { equals } from "@bufbuild/protobuf";
import type { Duration } from "@bufbuild/protobuf/wkt";
import {
  CollectionErrorSchema,
  GpuDeviceSchema,
  WorkerTelemetrySchema,
  type CollectionError,
  type EngineLoad,
  type GpuDevice,
  type GpuProbeStatus,
  type WorkerTelemetry,
} from "../../gen/apiary/v1/telemetry_pb.js";

/**
 * How far a value may move from the one the queen holds before the hive sends it again
 * (send-on-change). Values without a band are sent on any change.
 */
export interface Deadband {
  /** Worker CPU, points of one core (the demo's idle workers wobble by a few tenths). */
  workerCpuPct: number;
  /** Worker memory, as a share of the value the queen holds. */
  workerMemoryRatio: number;
  /** Worker and device GPU utilisation, points (nvidia-smi samples jitter by ±1). */
  gpuUtilizationPct: number;
  /** Worker VRAM and device memory used, bytes (allocators grow in chunks of 2–64 MiB). */
  vramBytes: bigint;
  /** I/O rates: sent again past this many bytes/s or this share of the held value, whichever is larger. */
  ioBytesPerSec: number;
  ioRatio: number;
  /** Engine KV-cache use, as a ratio 0–1. */
  kvCacheRatio: number;
  /** Engine token rates and latency percentiles, as a share of the held value. */
  engineRatio: number;
  /** Device temperature, °C. */
  temperatureC: number;
  /** Device power draw, W. */
  powerW: number;
  /** Device SM and memory clocks, as a share of the held value (boost clocks move every tick). */
  clockRatio: number;
  /** Machine memory available, as a share of the machine's total memory. */
  memoryAvailableRatio: number;
}

export const DEFAULT_DEADBAND: Deadband = {
  workerCpuPct: 1,
  workerMemoryRatio: 0.01,
  gpuUtilizationPct: 2,
  vramBytes: 64n << 20n,
  ioBytesPerSec: 1 << 20,
  ioRatio: 0.1,
  kvCacheRatio: 0.01,
  engineRatio: 0.1,
  temperatureC: 2,
  powerW: 5,
  clockRatio: 0.1,
  memoryAvailableRatio: 0.01,
};

function near(held: number | undefined, now: number | undefined, band: number): boolean {
  if (held === undefined || now === undefined) return held === now;
  return Math.abs(held - now) <= band;
}

function nearBig(held: bigint | undefined, now: bigint | undefined, band: bigint): boolean {
  if (held === undefined || now === undefined) return held === now;
  const d = held - now;
  return (d < 0n ? -d : d) <= band;
}

function nearRatio(held: number | undefined, now: number | undefined, ratio: number, floor = 0): boolean {
  if (held === undefined || now === undefined) return held === now;
  return Math.abs(held - now) <= Math.max(floor, Math.abs(held) * ratio);
}

function nearBigRatio(held: bigint | undefined, now: bigint | undefined, ratio: number): boolean {
  if (held === undefined || now === undefined) return held === now;
  return nearBig(held, now, BigInt(Math.floor(Number(held) * ratio)));
}

function durationNs(d: Duration | undefined): number | undefined {
  return d === undefined ? undefined : Number(d.seconds) * 1e9 + d.nanos;
}

/** The engine load without its banded and per-tick values (for an exact comparison of the rest). */
function engineRest(e: EngineLoad | undefined): EngineLoad | undefined {
  if (!e) return e;
  return {
    ...e,
    kvCacheUsageRatio: undefined,
    promptTokensPerSec: undefined,
    generationTokensPerSec: undefined,
    ttftP50: undefined,
    ttftP95: undefined,
    interTokenLatencyP50: undefined,
    interTokenLatencyP95: undefined,
    sampledAt: undefined,
    age: undefined,
  };
}

function engineNear(held: EngineLoad | undefined, now: EngineLoad | undefined, band: Deadband): boolean {
  if (!held || !now) return held === now;
  const r = band.engineRatio;
  return (
    near(held.kvCacheUsageRatio, now.kvCacheUsageRatio, band.kvCacheRatio) &&
    nearRatio(held.promptTokensPerSec, now.promptTokensPerSec, r) &&
    nearRatio(held.generationTokensPerSec, now.generationTokensPerSec, r) &&
    nearRatio(durationNs(held.ttftP50), durationNs(now.ttftP50), r) &&
    nearRatio(durationNs(held.ttftP95), durationNs(now.ttftP95), r) &&
    nearRatio(durationNs(held.interTokenLatencyP50), durationNs(now.interTokenLatencyP50), r) &&
    nearRatio(durationNs(held.interTokenLatencyP95), durationNs(now.interTokenLatencyP95), r)
  );
}

/** The worker without its banded and per-tick values. */
function workerRest(w: WorkerTelemetry): WorkerTelemetry {
  return {
    ...w,
    cpuPct: undefined,
    memoryRssBytes: undefined,
    ioReadBytesPerSec: undefined,
    ioWriteBytesPerSec: undefined,
    gpuUtilizationPct: undefined,
    vramUsedBytes: undefined,
    uptime: undefined,
    engineLoad: engineRest(w.engineLoad),
  };
}

/** True when the worker moved beyond the deadband from the version the queen holds. */
export function workerChanged(held: WorkerTelemetry, now: WorkerTelemetry, band: Deadband): boolean {
  const io = (a: number | undefined, b: number | undefined) => nearRatio(a, b, band.ioRatio, band.ioBytesPerSec);
  const within =
    near(held.cpuPct, now.cpuPct, band.workerCpuPct) &&
    nearBigRatio(held.memoryRssBytes, now.memoryRssBytes, band.workerMemoryRatio) &&
    io(held.ioReadBytesPerSec, now.ioReadBytesPerSec) &&
    io(held.ioWriteBytesPerSec, now.ioWriteBytesPerSec) &&
    near(held.gpuUtilizationPct, now.gpuUtilizationPct, band.gpuUtilizationPct) &&
    nearBig(held.vramUsedBytes, now.vramUsedBytes, band.vramBytes) &&
    engineNear(held.engineLoad, now.engineLoad, band);
  return !within || !equals(WorkerTelemetrySchema, workerRest(held), workerRest(now));
}

function deviceRest(d: GpuDevice): GpuDevice {
  return {
    ...d,
    memoryUsedBytes: undefined,
    utilizationPct: undefined,
    memoryUtilizationPct: undefined,
    temperatureC: undefined,
    powerDrawW: undefined,
    smClockMhz: undefined,
    memClockMhz: undefined,
  };
}

/** True when the device moved beyond the deadband from the version the queen holds. */
export function deviceChanged(held: GpuDevice, now: GpuDevice, band: Deadband): boolean {
  const within =
    nearBig(held.memoryUsedBytes, now.memoryUsedBytes, band.vramBytes) &&
    near(held.utilizationPct, now.utilizationPct, band.gpuUtilizationPct) &&
    near(held.memoryUtilizationPct, now.memoryUtilizationPct, band.gpuUtilizationPct) &&
    near(held.temperatureC, now.temperatureC, band.temperatureC) &&
    near(held.powerDrawW, now.powerDrawW, band.powerW) &&
    nearRatio(held.smClockMhz, now.smClockMhz, band.clockRatio) &&
    nearRatio(held.memClockMhz, now.memClockMhz, band.clockRatio);
  return !within || !equals(GpuDeviceSchema, deviceRest(held), deviceRest(now));
}

/** The hive-wide fields of a report (sent together in a partial report). */
export interface HiveFields {
  memoryAvailableBytes: bigint | undefined;
  gpuProbe: GpuProbeStatus | undefined;
  errors: readonly CollectionError[];
}

/** True when the hive-wide fields moved beyond the deadband; the probe's last_success_at alone does not count. */
export function hiveFieldsChanged(held: HiveFields, now: HiveFields, band: Deadband, memoryTotalBytes: bigint): boolean {
  const memoryBand = BigInt(Math.floor(Number(memoryTotalBytes) * band.memoryAvailableRatio));
  if (!nearBig(held.memoryAvailableBytes, now.memoryAvailableBytes, memoryBand)) return true;
  const a = held.gpuProbe;
  const b = now.gpuProbe;
  if (!a || !b) {
    if (a !== b) return true;
  } else if (a.state !== b.state || a.message !== b.message || (a.lastSuccessAt === undefined) !== (b.lastSuccessAt === undefined)) {
    return true;
  }
  if (held.errors.length !== now.errors.length) return true;
  return held.errors.some((e, i) => !equals(CollectionErrorSchema, e, now.errors[i]));
}
