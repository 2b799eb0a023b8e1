import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { FindWorkersResponseSchema, WorkerMatchSchema, type FindWorkersRequest, type FindWorkersResponse } from "../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import { TopK } from "../common/top-k.js";
import { hivePredicate, type HiveFilter } from "./hive-match.js";
import { EXACT_DOUBLE_LIMIT, workerFreeVramBytes, type SchedulingEntry } from "./scheduling-entry.js";
import { entryOrder, exactFree } from "./worker-order.js";

/** Largest answer of FindWorkers / FindDevices; limit 0 and larger limits mean this. */
export const MAX_MATCHES = 1000;
/** idle_only: GPU utilisation known and at most this. */
export const IDLE_GPU_UTILIZATION_PCT = 5;

/** The limit a request means: 0 and anything above {@link MAX_MATCHES} mean MAX_MATCHES. */
export function effectiveLimit(limit: number): number {
  return limit === 0 || limit > MAX_MATCHES ? MAX_MATCHES : limit;
}

/** The hive part of a FindWorkers request. */
export function hiveFilterOf(req: FindWorkersRequest): HiveFilter {
  return { hiveIds: req.hiveIds, hiveLabels: req.hiveLabels, includeDegraded: req.includeDegraded };
}

/**
 * idle_only: with engine metrics (requests running and waiting known) no request running or
 * waiting; otherwise GPU utilisation known and at most the idle threshold (and max_gpu_utilization_pct).
 */
function isIdle(e: SchedulingEntry, maxIdleUtil: number): boolean {
  if (e.running === e.running && e.waiting === e.waiting) return e.running === 0 && e.waiting === 0;
  return e.gpuUtil <= maxIdleUtil;
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

/**
 * Every per-worker filter of a (validated) FindWorkers request as one predicate: state, GPU
 * utilisation, idle, engine load, free VRAM, GPU health (a worker on an UNHEALTHY GPU is left out
 * unless include_unhealthy_gpus), hive health and labels, worker labels. Not model and
 * not hive_ids: those choose the lists a caller scans (see {@link answerFindWorkers}).
 */
export function workerPredicate(req: FindWorkersRequest): (e: SchedulingEntry) => boolean {
  const hiveOk = hivePredicate(hiveFilterOf(req));
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
  const workerLabels = Object.entries(req.workerLabels);
  const skipUnhealthyGpus = !req.includeUnhealthyGpus;
  return (e) => {
    if (e.state !== state) return false;
    if (skipUnhealthyGpus && e.gpuUnhealthy) return false;
    if (checkUtil && !(e.gpuUtil <= maxUtilAsNumber)) return false; // NaN (unknown) fails
    if (idleOnly && !isIdle(e, maxIdleUtil)) return false;
    if (checkWaiting && !(e.waiting <= maxWaiting)) return false;
    if (checkKv && !(e.kvUsage <= maxKv)) return false;
    if (checkFree && !hasFreeVram(e, minFree, minFreeAsNumber)) return false;
    if (!hiveOk(e.hive)) return false;
    if (workerLabels.length > 0 && !hasLabels(e.worker.labels, workerLabels)) return false;
    return true;
  };
}

/**
 * FindWorkers' answer over entry lists that hold only workers of the request's model (when it
 * names one) and of its hive_ids (when it lists some): the queen answers from its registry, a
 * client's informer from its cache, with the same filters, orders and limit.
 */
export function answerFindWorkers(lists: Iterable<readonly SchedulingEntry[]>, req: FindWorkersRequest, revision: bigint): FindWorkersResponse {
  const matches = workerPredicate(req);
  const top = new TopK<SchedulingEntry>(effectiveLimit(req.limit), entryOrder(req.order));
  let total = 0;
  for (const list of lists) {
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (!matches(e)) continue;
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
    revision,
  });
}
