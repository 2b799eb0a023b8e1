import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  FindWorkersResponseSchema,
  WorkerMatchSchema,
  WorkerOrder,
  type FindWorkersRequest,
  type FindWorkersResponse,
} from "../../gen/apiary/v1/queen_pb.js";
import { WorkerState, type WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { candidateHives, hiveMatches, type HiveFilter } from "./hive-filter.js";
import type { HiveView, Registry } from "./registry.js";
import { compareKnownFirst, compareStrings, selectTop } from "./top-k.js";

/** Largest answer of FindWorkers / FindDevices; limit 0 and larger limits mean this. */
export const MAX_MATCHES = 1000;
/** idle_only: GPU utilisation known and at most this. */
export const IDLE_GPU_UTILIZATION_PCT = 5;

interface Candidate {
  hive: HiveView;
  worker: WorkerTelemetry;
  free: bigint | undefined;
}

/**
 * Free VRAM of a worker: memory_total − memory_used of each of its GPUs (as measured, all
 * processes), the minimum over them. Undefined without GPUs, or when a GPU or its memory is unknown.
 */
export function workerFreeVram(hive: HiveView, worker: WorkerTelemetry): bigint | undefined {
  let min: bigint | undefined;
  for (const uuid of worker.gpuUuids) {
    const device = hive.devicesByUuid.get(uuid);
    if (!device || device.memoryTotalBytes === undefined || device.memoryUsedBytes === undefined) return undefined;
    const used = device.memoryUsedBytes;
    const free = device.memoryTotalBytes > used ? device.memoryTotalBytes - used : 0n;
    if (min === undefined || free < min) min = free;
  }
  return min;
}

function comparator(order: WorkerOrder): (a: Candidate, b: Candidate) => number {
  const byId = (a: Candidate, b: Candidate) =>
    compareStrings(a.hive.hiveId, b.hive.hiveId) || compareStrings(a.worker.workerId, b.worker.workerId);
  switch (order) {
    case WorkerOrder.MOST_FREE_VRAM:
      // Negate for descending; unknown stays last.
      return (a, b) => compareKnownFirst(a.free === undefined ? undefined : -a.free, b.free === undefined ? undefined : -b.free) || byId(a, b);
    case WorkerOrder.LEAST_UTILIZED:
      return (a, b) => compareKnownFirst(a.worker.gpuUtilizationPct, b.worker.gpuUtilizationPct) || byId(a, b);
    default:
      return byId;
  }
}

/** Answers FindWorkers over a validated request. */
export function findWorkers(registry: Registry, req: FindWorkersRequest): FindWorkersResponse {
  const filter: HiveFilter = { hiveIds: req.hiveIds, hiveLabels: req.hiveLabels, includeDegraded: req.includeDegraded };
  const state = req.state === WorkerState.UNSPECIFIED ? WorkerState.RUNNING : req.state;
  const maxUtil = req.idleOnly
    ? Math.min(IDLE_GPU_UTILIZATION_PCT, req.maxGpuUtilizationPct ?? Infinity)
    : req.maxGpuUtilizationPct;
  const minFree = req.minFreeVramBytes;
  let total = 0;

  function* matches(): Iterable<Candidate> {
    for (const [hive, workers] of workerSource(registry, req.model, filter)) {
      for (const worker of workers) {
        if (worker.state !== state) continue;
        if (maxUtil !== undefined && (worker.gpuUtilizationPct === undefined || worker.gpuUtilizationPct > maxUtil)) continue;
        const free = workerFreeVram(hive, worker);
        if (minFree > 0n && (free === undefined || free < minFree)) continue;
        total++;
        yield { hive, worker, free };
      }
    }
  }

  const limit = req.limit === 0 || req.limit > MAX_MATCHES ? MAX_MATCHES : req.limit;
  const top = selectTop(matches(), limit, comparator(req.order));
  return create(FindWorkersResponseSchema, {
    matches: top.map((c) =>
      create(WorkerMatchSchema, {
        hiveId: c.hive.hiveId,
        worker: c.worker,
        freeVramBytes: c.free,
        health: c.hive.health,
        lastSeen: timestampFromMs(c.hive.lastSeenWallMs),
        hiveEndpoint: c.hive.info.endpoint,
      }),
    ),
    totalMatches: total,
    revision: BigInt(registry.revision()),
  });
}

/** Workers that can match, per eligible hive. With a model, only the model index is walked. */
function* workerSource(registry: Registry, model: string, filter: HiveFilter): Iterable<[HiveView, Iterable<WorkerTelemetry>]> {
  if (model === "") {
    for (const hive of candidateHives(registry, filter)) yield [hive, hive.workers.values()];
    return;
  }
  const pick = (hive: HiveView, ids: ReadonlySet<string>) => [...ids].map((id) => hive.workers.get(id)!);
  if (filter.hiveIds.length > 0) {
    for (const hive of candidateHives(registry, filter)) {
      const ids = registry.workerIdsOfModel(hive.hiveId, model);
      if (ids) yield [hive, pick(hive, ids)];
    }
    return;
  }
  for (const { hive, workerIds } of registry.workersOfModel(model)) {
    if (hiveMatches(hive, filter)) yield [hive, pick(hive, workerIds)];
  }
}
