import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  FindWorkersResponseSchema,
  WorkerMatchSchema,
  WorkerOrder,
  type FindWorkersRequest,
  type FindWorkersResponse,
} from "../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import { hivePredicate, type HiveFilter } from "../contracts/hive-match.js";
import { candidateHives } from "./hive-filter.js";
import type { Registry } from "./registry.js";
import { EXACT_DOUBLE_LIMIT, workerFreeVramBytes, type SchedulingEntry } from "./scheduling-index.js";
import { TopK } from "../common/top-k.js";
import { compareIds as compareStrings } from "../rpc/compare-ids.js";

/** Largest answer of FindWorkers / FindDevices; limit 0 and larger limits mean this. */
export const MAX_MATCHES = 1000;
/** idle_only: GPU utilisation known and at most this. */
export const IDLE_GPU_UTILIZATION_PCT = 5;

// Scheduling entries carry free VRAM and utilisation as doubles (NaN when unknown), so filters and
// orders are number comparisons. Free VRAM above 2^53 is rounded: doubles that compare equal
// there are settled on the exact bigint, which keeps every answer exact.
const exactFree = (e: SchedulingEntry) => workerFreeVramBytes(e.hive, e.worker)!;

function byId(a: SchedulingEntry, b: SchedulingEntry): number {
  return compareStrings(a.hive.hiveId, b.hive.hiveId) || compareStrings(a.worker.workerId, b.worker.workerId);
}

/** Most free VRAM first, unknown last. */
function byMostFreeVram(a: SchedulingEntry, b: SchedulingEntry): number {
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
function byLeastUtilized(a: SchedulingEntry, b: SchedulingEntry): number {
  const ua = a.gpuUtil;
  const ub = b.gpuUtil;
  if (ua < ub) return -1;
  if (ua > ub) return 1;
  if (ua !== ub) {
    if (ua === ua) return -1;
    if (ub === ub) return 1;
  }
  return byId(a, b);
}

/** Ascending, NaN (unknown) after every known value; 0 when equal or both unknown. */
function knownAscending(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) return 0;
  if (a === a) return -1;
  if (b === b) return 1;
  return 0;
}

/** Fewest requests waiting, then running, then lowest KV-cache use; unknown values (no engine metrics) last. */
function byLeastLoaded(a: SchedulingEntry, b: SchedulingEntry): number {
  return knownAscending(a.waiting, b.waiting) || knownAscending(a.running, b.running) || knownAscending(a.kvUsage, b.kvUsage) || byId(a, b);
}

/**
 * idle_only: with engine metrics (requests running and waiting known) no request running or
 * waiting; otherwise GPU utilisation known and at most the idle threshold (and max_gpu_utilization_pct).
 */
function isIdle(e: SchedulingEntry, maxIdleUtil: number): boolean {
  if (e.running === e.running && e.waiting === e.waiting) return e.running === 0 && e.waiting === 0;
  return e.gpuUtil <= maxIdleUtil;
}

function comparator(order: WorkerOrder): (a: SchedulingEntry, b: SchedulingEntry) => number {
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

/** Known free VRAM of at least `min` (given also as a double). */
function hasFreeVram(e: SchedulingEntry, min: bigint, minAsNumber: number): boolean {
  const free = e.freeVram;
  if (free > minAsNumber) return true;
  if (!(free === minAsNumber)) return false; // smaller, or unknown
  return free <= EXACT_DOUBLE_LIMIT || exactFree(e) >= min;
}

function hasLabels(labels: Record<string, string>, wanted: [string, string][]): boolean {
  for (const [key, value] of wanted) if (labels[key] !== value) return false;
  return true;
}

/** Answers FindWorkers over a validated request. */
export function findWorkers(registry: Registry, req: FindWorkersRequest): FindWorkersResponse {
  const filter: HiveFilter = { hiveIds: req.hiveIds, hiveLabels: req.hiveLabels, includeDegraded: req.includeDegraded };
  const hiveOk = hivePredicate(filter);
  const state: number = req.state === WorkerState.UNSPECIFIED ? WorkerState.RUNNING : req.state;
  const idleOnly = req.idleOnly;
  const maxIdleUtil = Math.min(IDLE_GPU_UTILIZATION_PCT, req.maxGpuUtilizationPct ?? Infinity);
  const checkUtil = req.maxGpuUtilizationPct !== undefined;
  const maxUtilAsNumber = req.maxGpuUtilizationPct ?? Infinity;
  const checkWaiting = req.maxRequestsWaiting !== undefined;
  const maxWaiting = req.maxRequestsWaiting ?? Infinity;
  const checkKv = req.maxKvCacheUsageRatio !== undefined;
  const maxKv = req.maxKvCacheUsageRatio ?? Infinity;
  const minFree = req.minFreeVramBytes;
  const checkFree = minFree > 0n;
  const minFreeAsNumber = Number(minFree);
  const limit = req.limit === 0 || req.limit > MAX_MATCHES ? MAX_MATCHES : req.limit;
  const top = new TopK<SchedulingEntry>(limit, comparator(req.order));
  const workerLabels = Object.entries(req.workerLabels);
  let total = 0;

  for (const list of entryLists(registry, req.model, filter)) {
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (e.state !== state) continue;
      if (checkUtil && !(e.gpuUtil <= maxUtilAsNumber)) continue; // NaN (unknown) fails
      if (idleOnly && !isIdle(e, maxIdleUtil)) continue;
      if (checkWaiting && !(e.waiting <= maxWaiting)) continue;
      if (checkKv && !(e.kvUsage <= maxKv)) continue;
      if (checkFree && !hasFreeVram(e, minFree, minFreeAsNumber)) continue;
      if (!hiveOk(e.hive)) continue;
      if (workerLabels.length > 0 && !hasLabels(e.worker.labels, workerLabels)) continue;
      total++;
      top.offer(e);
    }
  }

  return create(FindWorkersResponseSchema, {
    matches: top.sorted().map((e) =>
      create(WorkerMatchSchema, {
        hiveId: e.hive.hiveId,
        worker: e.worker,
        freeVramBytes: workerFreeVramBytes(e.hive, e.worker),
        health: e.hive.health,
        lastSeen: timestampFromMs(e.hive.lastSeenWallMs),
        hiveEndpoint: e.hive.info.endpoint,
      }),
    ),
    totalMatches: total,
    revision: BigInt(registry.revision()),
  });
}

/**
 * The entries that can match: with hive ids, those of the named hives (looked up, not scanned);
 * else, with a model, only the model's lists; else every list.
 */
function* entryLists(registry: Registry, model: string, filter: HiveFilter): Iterable<readonly SchedulingEntry[]> {
  if (filter.hiveIds.length > 0) {
    for (const hive of candidateHives(registry, filter)) {
      const entries = [...hive.schedulingEntries.values()];
      yield model === "" ? entries : entries.filter((e) => e.worker.model === model);
    }
    return;
  }
  if (model === "") yield* registry.allSchedulingLists();
  else yield* registry.schedulingListsOfModel(model);
}
