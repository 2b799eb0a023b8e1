import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { FindWorkersRequestSchema, WorkerOrder } from "../../../gen/apiary/v1/queen_pb.js";
import { EngineKind, EngineLoadSchema } from "../../../gen/apiary/v1/telemetry_pb.js";
import { LivenessClock, ManualClock } from "../../../src/common/clock.js";
import { findWorkers } from "../../../src/queen/scheduling/find-workers.js";
import { MemoryRegistry } from "../../../src/queen/registry/memory-registry.js";
import { validateReport } from "../../../src/queen/ingest/report-validation.js";
import { validateFindWorkers } from "../../../src/queen/request-validation.js";
import { makeHiveInfo, makeReport, makeWorker } from "../helpers/telemetry-builders.js";

const load = (running?: number, waiting?: number, kv?: number) =>
  create(EngineLoadSchema, { kind: EngineKind.VLLM, requestsRunning: running, requestsWaiting: waiting, kvCacheUsageRatio: kv });

function registryWith(workers: Parameters<typeof makeWorker>[]) {
  const registry = new MemoryRegistry({ shards: 2, historySize: 10, clock: new LivenessClock(new ManualClock()) });
  registry.hello(makeHiveInfo("h"), "i1");
  registry.applyReport("h", "i1", makeReport(1, [], workers.map((args) => makeWorker(...args))));
  return registry;
}

const ids = (registry: MemoryRegistry, init: Parameters<typeof create<typeof FindWorkersRequestSchema>>[1]) =>
  findWorkers(registry, create(FindWorkersRequestSchema, init)).matches.map((m) => m.worker!.workerId);

describe("FindWorkers by engine load", () => {
  const registry = registryWith([
    ["busy", { engineLoad: load(8, 3, 0.9), gpuUtilizationPct: 99 }],
    ["queued", { engineLoad: load(1, 2, 0.1), gpuUtilizationPct: 97 }],
    ["light", { engineLoad: load(2, 0, 0.8), gpuUtilizationPct: 98 }],
    ["lighter", { engineLoad: load(2, 0, 0.3), gpuUtilizationPct: 98 }],
    ["idle", { engineLoad: load(0, 0, 0.0), gpuUtilizationPct: 96 }],
    ["no-kv", { engineLoad: load(0, 0, undefined), gpuUtilizationPct: 96 }],
    ["no-engine-idle-gpu", { gpuUtilizationPct: 1 }],
    ["no-engine-busy-gpu", { gpuUtilizationPct: 80 }],
  ]);

  it("LEAST_LOADED: fewest waiting, then running, then KV use; without engine metrics last", () => {
    expect(ids(registry, { order: WorkerOrder.LEAST_LOADED })).toEqual(["idle", "no-kv", "lighter", "light", "queued", "busy", "no-engine-busy-gpu", "no-engine-idle-gpu"]);
  });

  it("idle_only: none running or waiting where engine metrics say so, GPU utilisation otherwise (a serving engine's GPU is never idle)", () => {
    expect(ids(registry, { idleOnly: true })).toEqual(["idle", "no-engine-idle-gpu", "no-kv"]);
  });

  it("max_requests_waiting and max_kv_cache_usage_ratio: unknown never matches", () => {
    expect(ids(registry, { maxRequestsWaiting: 0, order: WorkerOrder.LEAST_LOADED })).toEqual(["idle", "no-kv", "lighter", "light"]);
    expect(ids(registry, { maxKvCacheUsageRatio: 0.3, order: WorkerOrder.LEAST_LOADED })).toEqual(["idle", "lighter", "queued"]);
  });

  it("rejects bad values naming the field", () => {
    const bad = (init: Parameters<typeof create<typeof FindWorkersRequestSchema>>[1]) => {
      try {
        validateFindWorkers(create(FindWorkersRequestSchema, init));
      } catch (e) {
        return (e as ConnectError).rawMessage;
      }
      return "accepted";
    };
    expect(bad({ maxKvCacheUsageRatio: 1.5 })).toMatch(/^max_kv_cache_usage_ratio: must be within 0..1/);
    expect(bad({ maxKvCacheUsageRatio: NaN })).toMatch(/^max_kv_cache_usage_ratio: must be a finite number/);
    expect(bad({ order: 4 as WorkerOrder })).toMatch(/^order: unknown value 4/);
    expect(bad({ order: WorkerOrder.LEAST_LOADED, maxRequestsWaiting: 0, maxKvCacheUsageRatio: 1 })).toBe("accepted");
  });

  it("a worker entry with an impossible engine load is rejected naming the field", () => {
    const report = makeReport(1, [], [makeWorker("w", { engineLoad: create(EngineLoadSchema, { kvCacheUsageRatio: 28 }) })]);
    expect(validateReport(report).map((r) => r.message)).toEqual([expect.stringMatching(/^report\.workers\[0\]\.engine_load\.kv_cache_usage_ratio: must be within 0..1/)]);
    const negative = makeReport(1, [], [makeWorker("w", { engineLoad: create(EngineLoadSchema, { generationTokensPerSec: -1 }) })]);
    expect(validateReport(negative).map((r) => r.message)).toEqual([expect.stringMatching(/engine_load\.generation_tokens_per_sec/)]);
  });
});
