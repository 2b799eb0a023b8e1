import { create } from "@bufbuild/protobuf";
import { HiveReportSchema, ReportScope, type GpuDevice, type HiveReport, type WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { DEFAULT_DEADBAND, deviceChanged, hiveFieldsChanged, workerChanged, type Deadband, type HiveFields } from "./report-deadband.js";

export interface SendOnChangeOptions {
  /** A full report at least this often; default 30 s. */
  fullReportIntervalMs?: number;
  /** Bands over the defaults (see report-deadband.ts). */
  deadband?: Partial<Deadband>;
}

export const DEFAULT_FULL_REPORT_INTERVAL_MS = 30_000;

/** What the queen holds of this hive, as far as this stream has told it. */
interface Base {
  seq: bigint;
  workers: Map<string, WorkerTelemetry>;
  devices: Map<string, GpuDevice>;
  hive: HiveFields;
}

/**
 * Turns the monitor's full reports into what one Heartbeat stream sends under send-on-change
 * (the contract is in telemetry.proto, above HiveReport): a FULL report first, every full-report
 * interval and after fullNext(); in between PARTIAL reports with only what moved beyond the
 * deadband since the version sent last. One per stream: a new stream starts FULL.
 */
export class ReportDelta {
  private base: Base | undefined;
  private lastFullAtMs = 0;
  private readonly band: Deadband;
  private readonly fullIntervalMs: number;

  constructor(
    private readonly memoryTotalBytes: bigint,
    options: SendOnChangeOptions = {},
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    this.band = { ...DEFAULT_DEADBAND, ...options.deadband };
    this.fullIntervalMs = options.fullReportIntervalMs ?? DEFAULT_FULL_REPORT_INTERVAL_MS;
  }

  /** The next report is FULL (the queen asked for a resync). */
  fullNext(): void {
    this.base = undefined;
  }

  /** What to send of `report` as report `seq`. */
  next(report: HiveReport, seq: bigint): HiveReport {
    const base = this.base;
    const now = this.nowMs();
    if (!base || now - this.lastFullAtMs >= this.fullIntervalMs || !sameDeviceSet(base.devices, report.devices)) {
      this.lastFullAtMs = now;
      this.base = {
        seq,
        workers: new Map(report.workers.map((w) => [w.workerId, w])),
        devices: new Map(report.devices.map((d) => [d.uuid, d])),
        hive: hiveFieldsOf(report),
      };
      return { ...report, seq, scope: ReportScope.FULL, baseSeq: 0n, removedWorkerIds: [], hiveFieldsUnchanged: false };
    }
    return this.partial(base, report, seq);
  }

  private partial(base: Base, report: HiveReport, seq: bigint): HiveReport {
    const workers: WorkerTelemetry[] = [];
    const seen = new Set<string>();
    for (const worker of report.workers) {
      seen.add(worker.workerId);
      const held = base.workers.get(worker.workerId);
      if (held && !workerChanged(held, worker, this.band)) continue;
      workers.push(worker);
      base.workers.set(worker.workerId, worker);
    }
    const removedWorkerIds: string[] = [];
    for (const workerId of base.workers.keys()) {
      if (seen.has(workerId)) continue;
      removedWorkerIds.push(workerId);
      base.workers.delete(workerId);
    }
    const devices: GpuDevice[] = [];
    for (const device of report.devices) {
      if (!deviceChanged(base.devices.get(device.uuid)!, device, this.band)) continue;
      devices.push(device);
      base.devices.set(device.uuid, device);
    }
    const fields = hiveFieldsOf(report);
    const hiveFieldsUnchanged = !hiveFieldsChanged(base.hive, fields, this.band, this.memoryTotalBytes);
    if (!hiveFieldsUnchanged) base.hive = fields;
    const baseSeq = base.seq;
    base.seq = seq;
    return create(HiveReportSchema, {
      seq,
      collectedAt: report.collectedAt,
      scope: ReportScope.PARTIAL,
      baseSeq,
      workers,
      devices,
      removedWorkerIds,
      hiveFieldsUnchanged,
      ...(hiveFieldsUnchanged ? {} : { memoryAvailableBytes: fields.memoryAvailableBytes, gpuProbe: fields.gpuProbe, errors: [...fields.errors] }),
    });
  }
}

function hiveFieldsOf(report: HiveReport): HiveFields {
  return { memoryAvailableBytes: report.memoryAvailableBytes, gpuProbe: report.gpuProbe, errors: report.errors };
}

function sameDeviceSet(held: Map<string, GpuDevice>, devices: readonly GpuDevice[]): boolean {
  if (held.size !== devices.length) return false;
  for (const d of devices) if (!held.has(d.uuid)) return false;
  return true;
}
