import { HiveHealth, WorkerOrder, type FindWorkersRequest, type HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import { WorkerState, type GpuDevice, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";

/**
 * FindWorkers computed the plain way from full hive state (what GetHive returns), straight from
 * DESIGN.md: every filter on every worker, BigInt free VRAM, a full sort. Tests compare the
 * queen's indexed answer with it.
 */
export interface ReferenceMatch {
  hiveId: string;
  worker: WorkerTelemetry;
  freeVramBytes: bigint | undefined;
  health: HiveHealth;
}

const MAX_MATCHES = 1000;
const IDLE_PCT = 5;

/** Free VRAM of a worker: the minimum over its GPUs of total − used; undefined without GPUs or unknown memory. */
export function referenceFreeVram(hive: { readonly devices: readonly GpuDevice[] }, worker: WorkerTelemetry): bigint | undefined {
  if (worker.gpuUuids.length === 0) return undefined;
  let min: bigint | undefined;
  for (const uuid of worker.gpuUuids) {
    const device = [...hive.devices].reverse().find((d) => d.uuid === uuid); // the last device of a uuid wins
    if (device?.memoryTotalBytes === undefined || device.memoryUsedBytes === undefined) return undefined;
    const free = device.memoryTotalBytes > device.memoryUsedBytes ? device.memoryTotalBytes - device.memoryUsedBytes : 0n;
    if (min === undefined || free < min) min = free;
  }
  return min;
}

export function referenceFindWorkers(hives: HiveStatus[], req: FindWorkersRequest): { total: number; matches: ReferenceMatch[] } {
  const state = req.state === WorkerState.UNSPECIFIED ? WorkerState.RUNNING : req.state;
  const maxUtil = req.maxGpuUtilizationPct;
  // idle_only (queen.proto): with engine metrics, nothing running or waiting; else GPU utilisation at most 5 % (and max_gpu_utilization_pct).
  const idle = (w: WorkerTelemetry) => {
    const load = w.engineLoad;
    if (load?.requestsRunning !== undefined && load.requestsWaiting !== undefined) return load.requestsRunning === 0 && load.requestsWaiting === 0;
    return w.gpuUtilizationPct !== undefined && w.gpuUtilizationPct <= Math.min(IDLE_PCT, maxUtil ?? Infinity);
  };
  const all: ReferenceMatch[] = [];
  for (const hive of hives) {
    const hiveId = hive.info!.hiveId;
    if (req.hiveIds.length > 0 && !req.hiveIds.includes(hiveId)) continue;
    if (hive.health === HiveHealth.DOWN) continue;
    if (hive.health !== HiveHealth.HEALTHY && !req.includeDegraded) continue;
    if (Object.entries(req.hiveLabels).some(([k, v]) => hive.info!.labels[k] !== v)) continue;
    for (const worker of hive.workers) {
      if (req.model !== "" && worker.model !== req.model) continue;
      if (worker.state !== state) continue;
      if (maxUtil !== undefined && (worker.gpuUtilizationPct === undefined || worker.gpuUtilizationPct > maxUtil)) continue;
      if (req.idleOnly && !idle(worker)) continue;
      const waiting = worker.engineLoad?.requestsWaiting;
      if (req.maxRequestsWaiting !== undefined && (waiting === undefined || waiting > req.maxRequestsWaiting)) continue;
      const kv = worker.engineLoad?.kvCacheUsageRatio;
      if (req.maxKvCacheUsageRatio !== undefined && (kv === undefined || kv > req.maxKvCacheUsageRatio)) continue;
      const free = referenceFreeVram(hive, worker);
      if (req.minFreeVramBytes > 0n && (free === undefined || free < req.minFreeVramBytes)) continue;
      all.push({ hiveId, worker, freeVramBytes: free, health: hive.health });
    }
  }
  const byId = (a: ReferenceMatch, b: ReferenceMatch) =>
    a.hiveId < b.hiveId ? -1 : a.hiveId > b.hiveId ? 1 : a.worker.workerId < b.worker.workerId ? -1 : a.worker.workerId > b.worker.workerId ? 1 : 0;
  const unknownLast = <T>(a: T | undefined, b: T | undefined, cmp: (x: T, y: T) => number) =>
    a === undefined ? (b === undefined ? 0 : 1) : b === undefined ? -1 : cmp(a, b);
  const sorted = all.sort((a, b) => {
    if (req.order === WorkerOrder.MOST_FREE_VRAM) {
      const c = unknownLast(a.freeVramBytes, b.freeVramBytes, (x, y) => (x > y ? -1 : x < y ? 1 : 0));
      if (c !== 0) return c;
    } else if (req.order === WorkerOrder.LEAST_UTILIZED) {
      const c = unknownLast(a.worker.gpuUtilizationPct, b.worker.gpuUtilizationPct, (x, y) => x - y);
      if (c !== 0) return c;
    } else if (req.order === WorkerOrder.LEAST_LOADED) {
      const la = a.worker.engineLoad;
      const lb = b.worker.engineLoad;
      const c =
        unknownLast(la?.requestsWaiting, lb?.requestsWaiting, (x, y) => x - y) ||
        unknownLast(la?.requestsRunning, lb?.requestsRunning, (x, y) => x - y) ||
        unknownLast(la?.kvCacheUsageRatio, lb?.kvCacheUsageRatio, (x, y) => x - y);
      if (c !== 0) return c;
    }
    return byId(a, b);
  });
  const limit = req.limit === 0 || req.limit > MAX_MATCHES ? MAX_MATCHES : req.limit;
  return { total: all.length, matches: sorted.slice(0, limit) };
}
