import { create } from "@bufbuild/protobuf";
import { FindWorkersRequestSchema, WorkerOrder, type FindWorkersRequest } from "../../../gen/apiary/v1/queen_pb.js";
import { EngineKind, EngineLoadSchema, GpuDeviceSchema, GpuHealthState, WorkerState, type EngineLoad, type GpuDevice, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { seededRandom } from "../../helpers/seeded-random.js";
import { GiB, makeWorker } from "./telemetry-builders.js";

/**
 * Random devices, workers and FindWorkers queries for the randomized FindWorkers tests: the
 * scheduling index against the plain reference (tests/queen/scheduling) and the client's informer
 * against a real queen (tests/client). Few distinct values, so that ties and matches are common.
 */

/** Seeded choices, so a failing run replays from its seed. */
export function choices(seed: number) {
  const next = seededRandom(seed);
  return {
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
  };
}
export type Choices = ReturnType<typeof choices>;

/** What differs between the callers: the registry taken directly, or reports through a real queen's validation. */
export interface ClusterShape {
  hiveIds: readonly string[];
  models: readonly string[];
  /** A "huge" GPU's memory: beyond 2^53 (only the bigint orders it) where no report validation caps it (2^50). */
  hugeBytes: bigint;
  /** GPU health verdicts, worker labels and the queries on them (filters the plain reference does not model). */
  healthAndLabels: boolean;
}

const STATES = [WorkerState.RUNNING, WorkerState.RUNNING, WorkerState.STARTING, WorkerState.EXITED];
const USED = [0n, 8n * GiB, 40n * GiB, 80n * GiB, 100n * GiB];

export function randomDevices(r: Choices, shape: ClusterShape, hiveId: string): GpuDevice[] {
  return Array.from({ length: r.int(4) }, (_, index) => {
    const huge = r.chance(0.2);
    return create(GpuDeviceSchema, {
      index,
      uuid: `GPU-${hiveId}-${index}`,
      memoryTotalBytes: r.chance(0.1) ? undefined : huge ? shape.hugeBytes : 80n * GiB,
      memoryUsedBytes: r.chance(0.1) ? undefined : huge ? BigInt(r.int(3)) : r.pick(USED),
      utilizationPct: r.int(101),
      // Sometimes judged by the hive: UNHEALTHY GPUs leave FindWorkers unless include_unhealthy_gpus.
      health: shape.healthAndLabels && r.chance(0.3) ? { state: r.pick([GpuHealthState.HEALTHY, GpuHealthState.DEGRADED, GpuHealthState.UNHEALTHY]) } : undefined,
    });
  });
}

/** Engine load with each value sometimes unknown. */
function randomEngineLoad(r: Choices): EngineLoad {
  return create(EngineLoadSchema, {
    kind: EngineKind.VLLM,
    requestsRunning: r.chance(0.15) ? undefined : r.pick([0, 0, 1, 3, 8]),
    requestsWaiting: r.chance(0.15) ? undefined : r.pick([0, 0, 2, 5]),
    kvCacheUsageRatio: r.chance(0.2) ? undefined : r.pick([0, 0.25, 0.5, 0.9, 1]),
  });
}

/** Up to 6 workers with distinct ids, on distinct GPUs among the hive's `devices`. */
export function randomWorkers(r: Choices, shape: ClusterShape, hiveId: string, devices: number): WorkerTelemetry[] {
  return Array.from({ length: r.int(7) }, () => r.int(10))
    .filter((n, i, all) => all.indexOf(n) === i)
    .map((n) =>
      makeWorker(`w${n}`, {
        model: r.pick(shape.models),
        state: r.pick(STATES),
        gpuUtilizationPct: r.chance(0.2) ? undefined : r.pick([0, 3, 5, 5.5, 40, 100]),
        gpuUuids: devices === 0 ? [] : Array.from({ length: r.int(3) }, () => `GPU-${hiveId}-${r.int(devices)}`).filter((u, i, all) => all.indexOf(u) === i),
        engineLoad: r.chance(0.4) ? undefined : randomEngineLoad(r),
        labels: shape.healthAndLabels && r.chance(0.3) ? { tier: r.pick(["gold", "free"]) } : {},
      }),
    );
}

/** Hive labels of a new incarnation: sometimes none. */
export function randomHiveLabels(r: Choices, pLabelled: number): Record<string, string> {
  return r.chance(pLabelled) ? { zone: r.pick(["eu", "us"]), class: r.pick(["h100", "a100"]) } : {};
}

export function randomQuery(r: Choices, shape: ClusterShape): FindWorkersRequest {
  const huge = shape.hugeBytes;
  const freeChoices = [0n, 1n, 30n * GiB, 40n * GiB, 72n * GiB, 80n * GiB, huge - 2n, huge - 1n, huge];
  return create(FindWorkersRequestSchema, {
    model: r.chance(0.3) ? "" : r.pick([...shape.models, "unknown"]),
    idleOnly: r.chance(0.15),
    maxGpuUtilizationPct: r.chance(0.2) ? r.pick([0, 5, 40, 100]) : undefined,
    minFreeVramBytes: r.chance(0.5) ? r.pick(freeChoices) : 0n,
    hiveLabels: r.chance(0.2) ? { zone: r.pick(["eu", "us"]) } : r.chance(0.1) ? { zone: "eu", class: "h100" } : {},
    hiveIds: r.chance(0.2) ? Array.from({ length: 1 + r.int(3) }, () => r.pick([...shape.hiveIds, "nope"])) : [],
    includeDegraded: r.chance(0.4),
    state: r.chance(0.2) ? r.pick([WorkerState.STARTING, WorkerState.EXITED, WorkerState.RUNNING]) : WorkerState.UNSPECIFIED,
    limit: r.pick([0, 1, 2, 3, 5, 2000]),
    order: r.pick([WorkerOrder.UNSPECIFIED, WorkerOrder.MOST_FREE_VRAM, WorkerOrder.LEAST_UTILIZED, WorkerOrder.LEAST_LOADED]),
    maxRequestsWaiting: r.chance(0.15) ? r.pick([0, 2, 5]) : undefined,
    maxKvCacheUsageRatio: r.chance(0.15) ? r.pick([0, 0.5, 1]) : undefined,
    ...(shape.healthAndLabels ? { workerLabels: r.chance(0.15) ? { tier: r.pick(["gold", "free"]) } : {}, includeUnhealthyGpus: r.chance(0.3) } : {}),
  });
}
