import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { FindWorkersRequestSchema, HiveHealth, WorkerOrder, type FindWorkersRequest } from "../../../gen/apiary/v1/queen_pb.js";
import { EngineKind, EngineLoadSchema, GpuDeviceSchema, WorkerState, type GpuDevice, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { LivenessClock, ManualClock } from "../../../src/common/clock.js";
import { findWorkers } from "../../../src/queen/scheduling/find-workers.js";
import { MemoryRegistry } from "../../../src/queen/registry/memory-registry.js";
import { referenceFindWorkers } from "../helpers/find-workers-reference.js";
import { GiB, makeHiveInfo, makeReport, makeWorker } from "../helpers/telemetry-builders.js";

/** Deterministic pseudo-random numbers, so a failure reproduces. */
function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32);
  return {
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
  };
}

type Rng = ReturnType<typeof rng>;

const MODELS = ["llama", "mistral", "qwen", ""];
const HIVES = ["h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"];
const STATES = [WorkerState.RUNNING, WorkerState.RUNNING, WorkerState.STARTING, WorkerState.EXITED];
/** Free VRAM values, some beyond 2^53 where doubles lose precision and only the bigint orders them. */
const HUGE = 2n ** 60n;
const USED = [0n, 8n * GiB, 40n * GiB, 80n * GiB, 100n * GiB];

function randomDevices(r: Rng, hiveId: string): GpuDevice[] {
  return Array.from({ length: r.int(4) }, (_, index) => {
    const huge = r.chance(0.2);
    return create(GpuDeviceSchema, {
      index,
      uuid: `GPU-${hiveId}-${index}`,
      memoryTotalBytes: r.chance(0.1) ? undefined : huge ? HUGE : 80n * GiB,
      memoryUsedBytes: r.chance(0.1) ? undefined : huge ? BigInt(r.int(3)) : r.pick(USED),
      utilizationPct: r.int(101),
    });
  });
}

/** Engine load with each value sometimes unknown; few distinct values so that ties are common. */
function randomEngineLoad(r: Rng) {
  return create(EngineLoadSchema, {
    kind: EngineKind.VLLM,
    requestsRunning: r.chance(0.15) ? undefined : r.pick([0, 0, 1, 3, 8]),
    requestsWaiting: r.chance(0.15) ? undefined : r.pick([0, 0, 2, 5]),
    kvCacheUsageRatio: r.chance(0.2) ? undefined : r.pick([0, 0.25, 0.5, 0.9, 1]),
  });
}

function randomWorkers(r: Rng, hiveId: string): WorkerTelemetry[] {
  return Array.from({ length: r.int(7) }, () => r.int(10))
    .filter((n, i, all) => all.indexOf(n) === i)
    .map((n) =>
      makeWorker(`w${n}`, {
        model: r.pick(MODELS),
        state: r.pick(STATES),
        gpuUtilizationPct: r.chance(0.2) ? undefined : r.pick([0, 3, 5, 5.5, 40, 100]),
        gpuUuids: Array.from({ length: r.int(3) }, () => `GPU-${hiveId}-${r.int(4)}`),
        engineLoad: r.chance(0.4) ? undefined : randomEngineLoad(r),
      }),
    );
}

/** One random change to the cluster: a report, a new incarnation, a health change, a disconnect or an eviction. */
function mutate(r: Rng, registry: MemoryRegistry, seq: { n: number }): void {
  const id = r.pick(HIVES);
  const action = r.int(20);
  const hive = registry.hive(id);
  if (action === 0) registry.evict(id, "test");
  else if (action === 1 && hive) registry.setHealth(id, r.pick([HiveHealth.DEGRADED, HiveHealth.DOWN, HiveHealth.HEALTHY]));
  else if (action === 2 && hive) registry.markDisconnected(id, hive.incarnation);
  else {
    const incarnation = !hive || action === 3 ? `inc${seq.n}` : hive.incarnation;
    if (!hive || hive.incarnation !== incarnation) {
      registry.hello(makeHiveInfo(id, r.chance(0.5) ? { zone: r.pick(["eu", "us"]), class: r.pick(["h100", "a100"]) } : {}), incarnation);
    }
    const current = registry.hive(id)!;
    const devices = r.chance(0.3) && current.devices.length > 0 ? [...current.devices] : randomDevices(r, id);
    registry.applyReport(id, incarnation, makeReport(++seq.n, devices, randomWorkers(r, id)));
  }
}

function randomQuery(r: Rng): FindWorkersRequest {
  const freeChoices = [0n, 1n, 30n * GiB, 40n * GiB, 72n * GiB, 80n * GiB, HUGE - 2n, HUGE - 1n, HUGE];
  return create(FindWorkersRequestSchema, {
    model: r.chance(0.3) ? "" : r.pick([...MODELS, "unknown"]),
    idleOnly: r.chance(0.15),
    maxGpuUtilizationPct: r.chance(0.2) ? r.pick([0, 5, 40, 100]) : undefined,
    minFreeVramBytes: r.chance(0.5) ? r.pick(freeChoices) : 0n,
    hiveLabels: r.chance(0.2) ? { zone: r.pick(["eu", "us"]) } : r.chance(0.1) ? { zone: "eu", class: "h100" } : {},
    hiveIds: r.chance(0.2) ? Array.from({ length: 1 + r.int(3) }, () => r.pick([...HIVES, "nope"])) : [],
    includeDegraded: r.chance(0.4),
    state: r.chance(0.2) ? r.pick([WorkerState.STARTING, WorkerState.EXITED, WorkerState.RUNNING]) : WorkerState.UNSPECIFIED,
    limit: r.pick([0, 1, 2, 3, 5, 2000]),
    order: r.pick([WorkerOrder.UNSPECIFIED, WorkerOrder.MOST_FREE_VRAM, WorkerOrder.LEAST_UTILIZED, WorkerOrder.LEAST_LOADED]),
    maxRequestsWaiting: r.chance(0.15) ? r.pick([0, 2, 5]) : undefined,
    maxKvCacheUsageRatio: r.chance(0.15) ? r.pick([0, 0.5, 1]) : undefined,
  });
}

describe("FindWorkers over the scheduling index", () => {
  it("answers every random query like a plain computation over the full hive state", () => {
    const clock = new ManualClock();
    const registry = new MemoryRegistry({ shards: 4, historySize: 100, clock: new LivenessClock(clock) });
    const r = rng(20240611);
    const seq = { n: 0 };
    let nonEmpty = 0;
    for (let round = 0; round < 300; round++) {
      for (let i = 0; i < 1 + r.int(4); i++) mutate(r, registry, seq);
      registry.modelIndexEntries(); // throws on an inconsistent entry
      const hives = [...registry.hives()].map((h) => registry.hiveStatus(h, true));
      for (let q = 0; q < 20; q++) {
        const req = randomQuery(r);
        const got = findWorkers(registry, req);
        const want = referenceFindWorkers(hives, req);
        const context = JSON.stringify(req, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v));
        expect(got.totalMatches, context).toBe(want.total);
        expect(
          got.matches.map((m) => [m.hiveId, m.worker!.workerId, m.freeVramBytes, m.health]),
          context,
        ).toEqual(want.matches.map((m) => [m.hiveId, m.worker.workerId, m.freeVramBytes, m.health]));
        got.matches.forEach((m, i) => expect(m.worker, context).toBe(registry.hive(m.hiveId)!.workers.get(want.matches[i].worker.workerId)));
        if (want.total > 0) nonEmpty++;
      }
    }
    // The random queries must exercise matches, not only empty answers.
    expect(nonEmpty).toBeGreaterThan(1000);
  });
});
