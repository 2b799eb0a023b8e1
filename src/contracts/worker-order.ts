import { WorkerOrder } from "../../gen/apiary/v1/queen_pb.js";
import { compareIds } from "../common/compare-ids.js";
import { EXACT_DOUBLE_LIMIT, workerFreeVramBytes, type SchedulingEntry } from "./scheduling-entry.js";

/** Orders of FindWorkers over scheduling entries; every order ends on (hive_id, worker_id), so each is total. */
export type EntryOrder = (a: SchedulingEntry, b: SchedulingEntry) => number;

// Scheduling entries carry free VRAM and utilisation as doubles (NaN when unknown), so filters and
// orders are number comparisons. Free VRAM above 2^53 is rounded: doubles that compare equal
// there are settled on the exact bigint, which keeps every answer exact.
export const exactFree = (e: SchedulingEntry): bigint => workerFreeVramBytes(e.hive, e.worker)!;

export function byId(a: SchedulingEntry, b: SchedulingEntry): number {
  return compareIds(a.hive.hiveId, b.hive.hiveId) || compareIds(a.worker.workerId, b.worker.workerId);
}

/** Most free VRAM first, unknown last. */
export function byMostFreeVram(a: SchedulingEntry, b: SchedulingEntry): number {
  const fa = a.freeVram;
  const fb = b.freeVram;
  if (fa > fb) return -1;
  if (fa < fb) return 1;
  if (fa !== fb) {
    // At least one is NaN (unknown).
    if (fa === fa) return -1;
    if (fb === fb) return 1;
  } else if (fa > EXACT_DOUBLE_LIMIT) {
    const xa = exactFree(a);
    const xb = exactFree(b);
    if (xa !== xb) return xa > xb ? -1 : 1;
  }
  return byId(a, b);
}

/** Least GPU utilisation first, unknown last. */
export function byLeastUtilized(a: SchedulingEntry, b: SchedulingEntry): number {
  return knownAscending(a.gpuUtil, b.gpuUtil) || byId(a, b);
}

/** Ascending, NaN (unknown) after every known value; 0 when equal or both unknown. */
export function knownAscending(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) return 0;
  if (a === a) return -1;
  if (b === b) return 1;
  return 0;
}

/** Fewest requests waiting, then running, then lowest KV-cache use; unknown values (no engine metrics) last. */
export function byLeastLoaded(a: SchedulingEntry, b: SchedulingEntry): number {
  return knownAscending(a.waiting, b.waiting) || knownAscending(a.running, b.running) || knownAscending(a.kvUsage, b.kvUsage) || byId(a, b);
}

export function entryOrder(order: WorkerOrder): EntryOrder {
  switch (order) {
    case WorkerOrder.MOST_FREE_VRAM:
      return byMostFreeVram;
    case WorkerOrder.LEAST_UTILIZED:
      return byLeastUtilized;
    case WorkerOrder.LEAST_LOADED:
      return byLeastLoaded;
    default:
      return byId;
  }
}
