import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  GpuDeviceSchema,
  GpuProbeState,
  HiveInfoSchema,
  HiveReportSchema,
  ReportScope,
  WorkerState,
  WorkerTelemetrySchema,
  type GpuDevice,
  type HiveInfo,
  type HiveReport,
  type WorkerTelemetry,
} from "../../gen/apiary/v1/telemetry_pb.js";

const GiB = 1024n ** 3n;
const GPU_TOTAL_BYTES = 80n * GiB;

export interface ClusterShape {
  /** Workers per hive. */
  workers: number;
  /** GPUs per hive. */
  gpus: number;
  /** Distinct models served across the cluster. */
  models: number;
  /**
   * Send-on-change: the share of workers (and of GPUs) whose values leave the deadband in a tick;
   * such a hive sends a PARTIAL report with just those, and a FULL one first and every 30 reports.
   * Unset: a full report every tick.
   */
  changeFraction?: number;
}

/** Hive ids sort in number order: h000000, h000001, … (so a watcher's slice is one etcd key range). */
export function hiveId(index: number): string {
  return `h${String(index).padStart(6, "0")}`;
}

export function modelName(index: number): string {
  return `org-${index % 7}/model-${index}`;
}

/** Model of worker `w` of hive `h`: spread evenly over every model of the cluster. */
export function modelOf(h: number, w: number, shape: ClusterShape): string {
  return modelName((h * shape.workers + w) % shape.models);
}

export function makeHiveInfo(h: number): HiveInfo {
  const id = hiveId(h);
  return create(HiveInfoSchema, {
    hiveId: id,
    hostname: `gpu-node-${id}.bench.local`,
    endpoint: `http://10.${(h >> 16) & 255}.${(h >> 8) & 255}.${h & 255}:7835`,
    version: "0.1.0",
    labels: { zone: `zone-${h % 4}`, pool: h % 10 === 0 ? "spot" : "reserved" },
    cpuCores: 64,
    memoryTotalBytes: 512n * GiB,
    cgroupMode: "v2",
  });
}

/** A small deterministic random source per hive, so runs are repeatable. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/**
 * One simulated hive's telemetry: a full HiveReport whose values drift every tick the way a busy
 * GPU node's do (CPU, RSS, I/O, GPU utilisation, VRAM, temperature, power), built once and updated
 * in place, so generating a report costs little beside encoding it.
 */
export class SimulatedHive {
  readonly info: HiveInfo;
  readonly report: HiveReport;
  private readonly random: () => number;
  private readonly startedAtMs: number;
  private seq = 0n;
  /** Reports sent since the stream opened (send-on-change: the first is full). */
  private sentOnStream = 0;

  constructor(
    readonly index: number,
    private readonly shape: ClusterShape,
  ) {
    this.info = makeHiveInfo(index);
    this.random = rng(index * 2654435761 + 17);
    this.startedAtMs = Date.now() - 3_600_000 - Math.floor(this.random() * 86_400_000);
    const id = this.info.hiveId;
    const devices: GpuDevice[] = Array.from({ length: shape.gpus }, (_, g) =>
      create(GpuDeviceSchema, {
        index: g,
        uuid: `GPU-${id}-${String(g).padStart(2, "0")}-5c2f-4f9e-9a3b`,
        name: "NVIDIA H100 80GB HBM3",
        memoryTotalBytes: GPU_TOTAL_BYTES,
        memoryUsedBytes: 0n,
        utilizationPct: 0,
        temperatureC: 40,
        powerDrawW: 120,
        powerLimitW: 700,
        computeCapability: "9.0",
        pciBusId: `00000000:${(0x18 + g).toString(16).padStart(2, "0")}:00.0`,
        memoryUtilizationPct: 0,
      }),
    );
    const workers: WorkerTelemetry[] = Array.from({ length: shape.workers }, (_, w) => {
      const model = modelOf(index, w, shape);
      const gpuUuids = shape.gpus > 0 ? [devices[w % shape.gpus].uuid] : [];
      return create(WorkerTelemetrySchema, {
        workerId: `w-${String(w).padStart(3, "0")}`,
        pid: 10_000 + w * 7,
        model,
        gpuUuids,
        state: WorkerState.RUNNING,
        startedAt: timestampFromMs(this.startedAtMs),
        cpuPct: 50,
        memoryRssBytes: 6n * GiB,
        ioReadBytesPerSec: 0,
        ioWriteBytesPerSec: 0,
        gpuUtilizationPct: 0,
        vramUsedBytes: BigInt(4 + Math.floor(this.random() * 12)) * GiB,
        limits: { memoryMaxBytes: 32n * GiB, cpuMaxMillicores: 8000, pidsMax: 512, enforced: true },
        labels: { team: `team-${index % 13}` },
        argv: ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--port", String(8000 + w)],
        logPath: `/var/lib/apiary/logs/w-${w}.log`,
        processCount: 3,
        cgroupPath: `/sys/fs/cgroup/apiary/w-${w}`,
      });
    });
    this.report = create(HiveReportSchema, {
      devices,
      workers,
      memoryAvailableBytes: 300n * GiB,
      gpuProbe: { state: GpuProbeState.OK, message: `${shape.gpus} GPU(s)` },
    });
  }

  /** Counts a report sent on the current stream; returns how many were sent before it. */
  countSent(): number {
    return this.sentOnStream++;
  }

  /** A new stream: its first report is full. */
  newStream(): void {
    this.sentOnStream = 0;
  }

  /** Advances the telemetry one tick and stamps it: seq, collected_at and uptime = sentAtMs. */
  next(sentAtMs: number): HiveReport {
    const r = this.random;
    const report = this.report;
    report.seq = ++this.seq;
    report.collectedAt = timestampFromMs(Math.floor(sentAtMs));
    report.memoryAvailableBytes = 300n * GiB - BigInt(Math.floor(r() * 4096)) * 1024n * 1024n;
    const usedByGpu = new Map<string, bigint>();
    for (const worker of report.workers) {
      worker.cpuPct = drift(worker.cpuPct ?? 50, r, 0, 800, 25);
      worker.memoryRssBytes = (worker.memoryRssBytes ?? 0n) + BigInt(Math.floor((r() - 0.5) * 64)) * 1024n * 1024n;
      worker.ioReadBytesPerSec = Math.floor(r() * 5e6);
      worker.ioWriteBytesPerSec = Math.floor(r() * 1e6);
      worker.gpuUtilizationPct = Math.round(drift(worker.gpuUtilizationPct ?? 0, r, 0, 100, 15));
      if (r() < 0.05) worker.vramUsedBytes = BigInt(4 + Math.floor(r() * 12)) * GiB;
      // Uptime carries the send time to watchers: started_at + uptime = when the report left.
      const uptimeMs = sentAtMs - this.startedAtMs;
      worker.uptime = { $typeName: "google.protobuf.Duration", seconds: BigInt(Math.floor(uptimeMs / 1000)), nanos: Math.floor((uptimeMs % 1000) * 1e6) };
      for (const uuid of worker.gpuUuids) usedByGpu.set(uuid, (usedByGpu.get(uuid) ?? 0n) + (worker.vramUsedBytes ?? 0n));
    }
    for (const device of report.devices) {
      device.memoryUsedBytes = (usedByGpu.get(device.uuid) ?? 0n) + 600n * 1024n * 1024n;
      device.utilizationPct = Math.round(drift(device.utilizationPct ?? 0, r, 0, 100, 15));
      device.memoryUtilizationPct = Math.round(drift(device.memoryUtilizationPct ?? 0, r, 0, 100, 10));
      device.temperatureC = Math.round(drift(device.temperatureC ?? 40, r, 30, 85, 2));
      device.powerDrawW = Math.round(drift(device.powerDrawW ?? 120, r, 60, 700, 30) * 10) / 10;
    }
    return report;
  }
}

/** Every 30th report of a send-on-change hive is full (its hive index staggers them). */
const FULL_EVERY = 30;

/** The report a send-on-change hive sends this tick, after next(): partial, or undefined for the full one. */
export function partialOf(sim: SimulatedHive, changeFraction: number, random: () => number): HiveReport | undefined {
  const report = sim.report;
  const n = sim.countSent();
  if (n === 0 || (Number(report.seq) + sim.index) % FULL_EVERY === 0) return undefined;
  return create(HiveReportSchema, {
    seq: report.seq,
    collectedAt: report.collectedAt,
    scope: ReportScope.PARTIAL,
    baseSeq: report.seq - 1n,
    workers: report.workers.filter(() => random() < changeFraction),
    devices: report.devices.filter(() => random() < changeFraction),
    hiveFieldsUnchanged: true,
  });
}

function drift(value: number, r: () => number, min: number, max: number, step: number): number {
  return Math.min(max, Math.max(min, value + (r() - 0.5) * 2 * step));
}

/** When a report left its hive, from a worker's started_at + uptime (see SimulatedHive.next). */
export function sentAtFromWorker(worker: WorkerTelemetry): number | undefined {
  if (!worker.startedAt || !worker.uptime) return undefined;
  const started = Number(worker.startedAt.seconds) * 1000 + worker.startedAt.nanos / 1e6;
  return started + Number(worker.uptime.seconds) * 1000 + worker.uptime.nanos / 1e6;
}
