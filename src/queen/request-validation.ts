import type {
  FindDevicesRequest,
  FindWorkersRequest,
  GetHiveRequest,
  ListEventsRequest,
  ListHivesRequest,
  WatchRequest,
} from "../../gen/apiary/v1/queen_pb.js";
import { DeviceOrder, WatchKind, WorkerOrder } from "../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import { checkCount, checkEnum, checkId, checkLabels, checkNumber, checkText, checkTimestamp, durationToMs, invalid } from "../contracts/field-checks.js";
import type { WatchParams } from "./watch/watch-hub.js";
import { decodeResumeToken } from "./watch/watch-resume-ledger.js";

const MAX_HIVE_IDS = 10_000;
/** Largest max_batch honoured; larger requests are lowered to it. */
const MAX_WATCH_BATCH = 1_000;
/** Longest bookmark or update interval a watcher may ask for; longer requests are lowered to it. */
const MAX_WATCH_INTERVAL_MS = 3_600_000;

function checkHiveIds(field: string, ids: readonly string[]): void {
  checkCount(field, ids.length, MAX_HIVE_IDS);
  ids.forEach((id, i) => checkId(`${field}[${i}]`, id));
}

// limit: 0 and anything above the server maximum (1000) both mean 1000; larger limits are clamped, not rejected.

export function validateFindWorkers(req: FindWorkersRequest): void {
  checkText("model", req.model, 1024);
  checkNumber("max_gpu_utilization_pct", req.maxGpuUtilizationPct, 0, 100);
  checkLabels("hive_labels", req.hiveLabels);
  checkLabels("worker_labels", req.workerLabels);
  checkEnum("state", req.state, WorkerState.UNSPECIFIED, WorkerState.BACKOFF);
  checkEnum("order", req.order, WorkerOrder.UNSPECIFIED, WorkerOrder.LEAST_LOADED);
  checkNumber("max_kv_cache_usage_ratio", req.maxKvCacheUsageRatio, 0, 1);
  checkHiveIds("hive_ids", req.hiveIds);
}

export function validateFindDevices(req: FindDevicesRequest): void {
  checkNumber("max_utilization_pct", req.maxUtilizationPct, 0, 100);
  checkLabels("hive_labels", req.hiveLabels);
  checkEnum("order", req.order, DeviceOrder.UNSPECIFIED, DeviceOrder.LEAST_UTILIZED);
  checkHiveIds("hive_ids", req.hiveIds);
}

export function validateGetHive(req: GetHiveRequest): void {
  checkId("hive_id", req.hiveId);
}

export function validateListEvents(req: ListEventsRequest): void {
  checkId("hive_id", req.hiveId);
  if (req.workerId !== "") checkId("worker_id", req.workerId, 128);
}

export function validateListHives(req: ListHivesRequest): void {
  checkLabels("hive_labels", req.hiveLabels);
}

/**
 * Validates a WatchRequest and resolves its defaults. bookmark_interval below the minimum is
 * raised to it (and above an hour lowered to an hour); zero or negative durations are rejected.
 */
export function watchParams(req: WatchRequest, defaults: { bookmarkIntervalMs: number; minBookmarkIntervalMs: number }): WatchParams {
  checkText("epoch", req.epoch, 128);
  checkHiveIds("hive_ids", req.hiveIds);
  checkText("model", req.model, 1024);
  checkCount("kinds", req.kinds.length, 2);
  req.kinds.forEach((kind, i) => checkEnum(`kinds[${i}]`, kind, WatchKind.HIVE, WatchKind.WORKER));
  let bookmarkIntervalMs = defaults.bookmarkIntervalMs;
  if (req.bookmarkInterval) {
    checkTimestamp("bookmark_interval", req.bookmarkInterval, true);
    const ms = durationToMs(req.bookmarkInterval);
    if (ms <= 0) throw invalid("bookmark_interval", "must be positive");
    bookmarkIntervalMs = Math.min(MAX_WATCH_INTERVAL_MS, Math.max(defaults.minBookmarkIntervalMs, ms));
  }
  let minUpdateIntervalMs = 0;
  if (req.minUpdateInterval) {
    checkTimestamp("min_update_interval", req.minUpdateInterval, true);
    const ms = durationToMs(req.minUpdateInterval);
    if (ms < 0) throw invalid("min_update_interval", "must not be negative");
    minUpdateIntervalMs = Math.min(MAX_WATCH_INTERVAL_MS, ms);
  }
  const resumeFrom = req.resumeToken.length === 0 ? undefined : decodeResumeToken(req.resumeToken);
  if (req.resumeToken.length > 0 && !resumeFrom) throw invalid("resume_token", "is not a resume token from a WatchResponse");
  const kinds = new Set(req.kinds);
  return {
    sinceRevision: req.sinceRevision > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(req.sinceRevision),
    epoch: req.epoch,
    hiveIds: req.hiveIds.length > 0 ? new Set(req.hiveIds) : undefined,
    model: req.model,
    hives: kinds.size === 0 || kinds.has(WatchKind.HIVE),
    workers: kinds.size === 0 || kinds.has(WatchKind.WORKER),
    bookmarkIntervalMs,
    minUpdateIntervalMs,
    maxBatch: Math.min(MAX_WATCH_BATCH, req.maxBatch),
    resumeFrom,
  };
}
