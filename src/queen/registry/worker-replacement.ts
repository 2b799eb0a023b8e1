import { WorkerState, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { ChangeType } from "./registry.js";
import type { HiveRecord, RegistryShard } from "./registry-shard.js";
import { workersEqual } from "./telemetry-equality.js";

export interface EndedWorkerRetention {
  /** How long an ended worker stays after its hive stops listing it; 0 = not at all. */
  retentionMs: number;
  maxEndedPerHive: number;
}

/** [type, worker, previous model when an UPDATED changed it]. */
export type WorkerChange = [ChangeType, WorkerTelemetry, string?];

/**
 * Replaces a hive's workers with a full list, keeping the shard's scheduling entries exact, and
 * returns the changes to emit (in order). With `retention`, ended workers the list dropped are
 * carried for the retention (a report from the hive itself); without, the list is taken as it is
 * (a remote hive: its owner already applied its retention).
 */
export function replaceWorkers(
  shard: RegistryShard,
  record: HiveRecord,
  workers: readonly WorkerTelemetry[],
  nowMs: number,
  retention: EndedWorkerRetention | undefined,
): WorkerChange[] {
  const previous = record.workers;
  const next = new Map<string, WorkerTelemetry>();
  const changes: WorkerChange[] = [];
  for (const worker of workers) {
    next.set(worker.workerId, worker);
    if (worker.state === WorkerState.EXITED || worker.state === WorkerState.FAILED) {
      if (!record.endedSinceMs.has(worker.workerId)) record.endedSinceMs.set(worker.workerId, nowMs);
    } else if (record.endedSinceMs.size > 0) {
      record.endedSinceMs.delete(worker.workerId);
    }
    const old = previous.get(worker.workerId);
    // Every entry is refreshed: it must point at the latest telemetry, and the devices may have changed.
    const entry = record.schedulingEntries.get(worker.workerId);
    if (entry) shard.updateWorker(entry, worker);
    else shard.addWorker(record, worker);
    if (!old) changes.push([ChangeType.Added, worker]);
    else if (!workersEqual(old, worker)) changes.push([ChangeType.Updated, worker, old.model !== worker.model ? old.model : undefined]);
  }
  if (record.carried.size > 0) record.carried = new Set();
  for (const [workerId, old] of previous) {
    if (next.has(workerId)) continue;
    if (retention && retention.retentionMs > 0 && record.endedSinceMs.has(workerId)) {
      // The hive dropped an ended worker once the queen had it: the queen keeps it for its retention.
      next.set(workerId, old);
      record.carried.add(workerId);
      shard.updateWorker(record.schedulingEntries.get(workerId)!, old);
      continue;
    }
    shard.removeWorker(record, workerId);
    record.endedSinceMs.delete(workerId);
    changes.push([ChangeType.Removed, old]);
  }
  if (retention && record.carried.size > retention.maxEndedPerHive) {
    const oldest = [...record.carried].sort((a, b) => record.endedSinceMs.get(a)! - record.endedSinceMs.get(b)!);
    for (const workerId of oldest.slice(0, record.carried.size - retention.maxEndedPerHive)) {
      changes.push([ChangeType.Removed, next.get(workerId)!]);
      forgetEnded(shard, record, workerId);
      next.delete(workerId);
    }
  }
  record.workers = next;
  return changes;
}

/** Drops an ended worker the queen carried. */
export function forgetEnded(shard: RegistryShard, record: HiveRecord, workerId: string): void {
  shard.removeWorker(record, workerId);
  record.carried.delete(workerId);
  record.endedSinceMs.delete(workerId);
}
