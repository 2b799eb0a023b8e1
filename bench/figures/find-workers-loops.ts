import type { FindWorkersRequest } from "../../gen/apiary/v1/queen_pb.js";
import { WorkerState, type WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { hiveMatches, type HiveFilter } from "../../src/contracts/hive-match.js";
import type { HiveView, RegistryReadView } from "../../src/queen/registry/registry.js";
import { selectTop } from "../../src/common/top-k.js";

/**
 * A plain-loop rendering of the queen's FindWorkers query (MOST_FREE_VRAM order, model or full
 * scan, min_free_vram, health and label filters) over the hives' telemetry messages (devices
 * converted per hive per query), used by the find-workers figure as a reference point for the
 * queen's scheduling entries. It must return the same total and the same top-k as
 * src/queen/scheduling/find-workers.ts (the figure checks it).
 */
interface Hit {
  hiveId: string;
  workerId: string;
  free: number;
}

const MAX_MATCHES = 1000;

function byFreeDesc(a: Hit, b: Hit): number {
  return b.free - a.free || (a.hiveId < b.hiveId ? -1 : a.hiveId > b.hiveId ? 1 : 0) || (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0);
}

/** Free VRAM of each GPU of the hive as a number (bytes fit in 2^53), computed once per hive per query. */
function deviceFree(hive: HiveView): Map<string, number> {
  const out = new Map<string, number>();
  for (const d of hive.devices) {
    if (d.memoryTotalBytes === undefined || d.memoryUsedBytes === undefined) continue;
    out.set(d.uuid, d.memoryTotalBytes > d.memoryUsedBytes ? Number(d.memoryTotalBytes - d.memoryUsedBytes) : 0);
  }
  return out;
}

export function findWorkersLoops(registry: RegistryReadView, req: FindWorkersRequest): { total: number; top: Hit[] } {
  const filter: HiveFilter = { hiveIds: req.hiveIds, hiveLabels: req.hiveLabels, includeDegraded: req.includeDegraded };
  const state = req.state === WorkerState.UNSPECIFIED ? WorkerState.RUNNING : req.state;
  const minFree = Number(req.minFreeVramBytes);
  const hits: Hit[] = [];
  let total = 0;
  const consider = (hive: HiveView, free: Map<string, number>, worker: WorkerTelemetry) => {
    if (worker.state !== state) return;
    let min = Infinity;
    for (const uuid of worker.gpuUuids) {
      const f = free.get(uuid);
      if (f === undefined) {
        min = NaN;
        break;
      }
      if (f < min) min = f;
    }
    const known = worker.gpuUuids.length > 0 && !Number.isNaN(min);
    if (minFree > 0 && (!known || min < minFree)) return;
    total++;
    hits.push({ hiveId: hive.hiveId, workerId: worker.workerId, free: known ? min : -1 });
  };
  if (req.model !== "") {
    const byHive = new Map<HiveView, WorkerTelemetry[]>();
    for (const list of registry.schedulingListsOfModel(req.model)) {
      for (const { hive, worker } of list) {
        const workers = byHive.get(hive);
        if (workers) workers.push(worker);
        else byHive.set(hive, [worker]);
      }
    }
    for (const [hive, workers] of byHive) {
      if (!hiveMatches(hive, filter)) continue;
      const free = deviceFree(hive);
      for (const worker of workers) consider(hive, free, worker);
    }
  } else {
    for (const hive of registry.hives()) {
      if (!hiveMatches(hive, filter)) continue;
      const free = deviceFree(hive);
      for (const worker of hive.workers.values()) consider(hive, free, worker);
    }
  }
  const limit = req.limit === 0 || req.limit > MAX_MATCHES ? MAX_MATCHES : req.limit;
  return { total, top: selectTop(hits, limit, byFreeDesc) };
}
