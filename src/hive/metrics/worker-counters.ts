import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { HiveReport, WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { isEnded } from "../../contracts/telemetry-series.js";

/** Cumulative totals of one live worker since this hive process first measured it. */
export interface WorkerTotals {
  worker: WorkerTelemetry;
  cpuSeconds: number;
  ioReadBytes: number;
  ioWriteBytes: number;
}

interface Tracked extends WorkerTotals {
  atMs: number;
}

/**
 * Turns the per-interval rates of successive reports into counters: each new measurement of a
 * worker adds rate × the time since its previous one. A worker repeated unchanged from an earlier
 * tick (its sampling overran the tick) adds nothing; an ended or vanished worker is forgotten.
 */
export class WorkerCounters {
  private readonly tracked = new Map<string, Tracked>();

  update(report: HiveReport): void {
    const atMs = report.collectedAt ? timestampMs(report.collectedAt) : Date.now();
    const seen = new Set<string>();
    for (const worker of report.workers) {
      if (isEnded(worker.state)) continue;
      seen.add(worker.workerId);
      const t = this.tracked.get(worker.workerId);
      if (!t) {
        this.tracked.set(worker.workerId, { worker, atMs, cpuSeconds: 0, ioReadBytes: 0, ioWriteBytes: 0 });
        continue;
      }
      if (t.worker === worker) continue;
      const seconds = Math.max(0, (atMs - t.atMs) / 1000);
      t.cpuSeconds += ((worker.cpuPct ?? 0) / 100) * seconds;
      t.ioReadBytes += (worker.ioReadBytesPerSec ?? 0) * seconds;
      t.ioWriteBytes += (worker.ioWriteBytesPerSec ?? 0) * seconds;
      t.worker = worker;
      t.atMs = atMs;
    }
    for (const id of this.tracked.keys()) if (!seen.has(id)) this.tracked.delete(id);
  }

  totals(): Iterable<WorkerTotals> {
    return this.tracked.values();
  }
}
