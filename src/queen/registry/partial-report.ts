import type { GpuDevice, HiveReport, WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { HiveRecord } from "./registry-shard.js";
import type { WorkerRejection } from "./registry.js";

/**
 * A PARTIAL report (send-on-change, see telemetry.proto) merged onto what the queen holds of the
 * hive: the full report it stands for, with the worker entries left out of it so far. Undefined
 * when the report changes nothing but liveness (the common case: nothing moved beyond the
 * hive's deadband), so that applying it costs nothing more.
 */
export function mergePartialReport(
  record: HiveRecord,
  report: HiveReport,
  rejected: readonly WorkerRejection[],
): { report: HiveReport; rejected: readonly WorkerRejection[] } | undefined {
  const nothing =
    report.workers.length === 0 &&
    report.devices.length === 0 &&
    report.removedWorkerIds.length === 0 &&
    report.hiveFieldsUnchanged &&
    rejected.length === 0;
  if (nothing) return undefined;

  const changed = new Map<string, WorkerTelemetry>();
  for (const w of report.workers) changed.set(w.workerId, w);
  const gone = new Set(report.removedWorkerIds);
  for (const r of rejected) gone.add(r.workerId);
  const workers: WorkerTelemetry[] = [];
  for (const [workerId, held] of record.workers) {
    // Carried ended workers are no longer the hive's: a full report would not list them either.
    if (record.carried.has(workerId) || gone.has(workerId)) continue;
    const now = changed.get(workerId);
    workers.push(now ?? held);
    if (now) changed.delete(workerId);
  }
  for (const w of changed.values()) workers.push(w);

  // An entry left out earlier stays left out (and named in the hive's errors) until the hive
  // sends that worker again or reports it gone.
  const mentioned = new Set(gone);
  for (const w of report.workers) mentioned.add(w.workerId);
  const stillRejected = record.rejected.filter((r) => !mentioned.has(r.workerId));

  const hiveFields = report.hiveFieldsUnchanged
    ? { memoryAvailableBytes: record.memoryAvailableBytes, gpuProbe: record.gpuProbe, errors: record.reportedErrors as HiveReport["errors"] }
    : {};
  return {
    report: { ...report, ...hiveFields, devices: mergeDevices(record.devices, report.devices), workers },
    rejected: stillRejected.length === 0 ? rejected : [...stillRejected, ...rejected],
  };
}

/** The held devices with the changed ones replaced by uuid; new ones at the end. */
function mergeDevices(held: readonly GpuDevice[], changed: readonly GpuDevice[]): GpuDevice[] {
  if (changed.length === 0) return held as GpuDevice[];
  const byUuid = new Map(changed.map((d) => [d.uuid, d]));
  const merged = held.map((d) => {
    const now = byUuid.get(d.uuid);
    if (now) byUuid.delete(d.uuid);
    return now ?? d;
  });
  for (const d of byUuid.values()) merged.push(d);
  return merged;
}
