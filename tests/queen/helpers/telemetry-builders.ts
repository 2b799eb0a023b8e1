import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  GpuDeviceSchema,
  GpuProbeState,
  HiveInfoSchema,
  HiveReportSchema,
  WorkerState,
  WorkerTelemetrySchema,
  type GpuDevice,
  type HiveInfo,
  type HiveReport,
  type WorkerTelemetry,
} from "../../../gen/apiary/v1/telemetry_pb.js";

export const GiB = 1024n ** 3n;

/** A hive's hello identity. */
export function makeHiveInfo(hiveId: string, labels: Record<string, string> = {}): HiveInfo {
  return create(HiveInfoSchema, {
    hiveId,
    hostname: `${hiveId}.local`,
    endpoint: `http://${hiveId}.local:7835`,
    version: "0.1.0",
    labels,
    cpuCores: 32,
    memoryTotalBytes: 256n * GiB,
    cgroupMode: "v2",
  });
}

export interface DeviceSpec {
  totalGiB?: number;
  usedGiB?: number;
  utilizationPct?: number;
}

/** GPU `index` of a hive; its uuid is `GPU-<hiveId>-<index>`. */
export function makeDevice(hiveId: string, index: number, spec: DeviceSpec = {}): GpuDevice {
  return create(GpuDeviceSchema, {
    index,
    uuid: gpuUuid(hiveId, index),
    name: "NVIDIA H100 80GB HBM3",
    memoryTotalBytes: BigInt(spec.totalGiB ?? 80) * GiB,
    memoryUsedBytes: BigInt(spec.usedGiB ?? 0) * GiB,
    utilizationPct: spec.utilizationPct,
    temperatureC: 40,
    computeCapability: "9.0",
  });
}

export function gpuUuid(hiveId: string, index: number): string {
  return `GPU-${hiveId}-${index}`;
}

/** A RUNNING worker; override any field. */
export function makeWorker(workerId: string, init: MessageInitShape<typeof WorkerTelemetrySchema> = {}): WorkerTelemetry {
  return create(WorkerTelemetrySchema, {
    workerId,
    pid: 1000,
    model: "llama-3-8b",
    state: WorkerState.RUNNING,
    cpuPct: 50,
    memoryRssBytes: 2n * GiB,
    ...init,
  });
}

export function makeReport(seq: number | bigint, devices: GpuDevice[], workers: WorkerTelemetry[]): HiveReport {
  return create(HiveReportSchema, {
    seq: BigInt(seq),
    devices,
    workers,
    memoryAvailableBytes: 100n * GiB,
    gpuProbe: { state: GpuProbeState.OK },
  });
}

export interface SyntheticReportSpec {
  hiveId: string;
  seq?: number | bigint;
  /** Number of workers, spread round-robin over the GPUs. */
  workers: number;
  /** Number of GPUs of the hive. */
  gpus: number;
  /** Model of worker i (default: "model-<i % 4>"). */
  model?: (i: number) => string;
  /** Changes per-report values (GPU use, CPU) so consecutive reports differ. */
  tick?: number;
}

/** A report of `workers` workers on `gpus` GPUs, for load and integration tests. */
export function syntheticReport(spec: SyntheticReportSpec): HiveReport {
  const tick = spec.tick ?? 0;
  const devices = Array.from({ length: spec.gpus }, (_, i) =>
    makeDevice(spec.hiveId, i, { usedGiB: (i * 7 + tick) % 70, utilizationPct: (i * 13 + tick) % 100 }),
  );
  const workers = Array.from({ length: spec.workers }, (_, i) =>
    makeWorker(`w${i}`, {
      pid: 10_000 + i,
      model: spec.model ? spec.model(i) : `model-${i % 4}`,
      gpuUuids: spec.gpus > 0 ? [gpuUuid(spec.hiveId, i % spec.gpus)] : [],
      gpuUtilizationPct: (i * 17 + tick) % 100,
      vramUsedBytes: BigInt(i % 8) * GiB,
      cpuPct: (i * 3 + tick) % 400,
    }),
  );
  return makeReport(spec.seq ?? 1, devices, workers);
}
