import { describe, expect, it } from "vitest";
import { HiveHealth, WorkerOrder } from "../../../gen/apiary/v1/queen_pb.js";
import { create } from "@bufbuild/protobuf";
import { FindWorkersRequestSchema } from "../../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { LivenessClock, ManualClock } from "../../../src/common/clock.js";
import { findWorkers } from "../../../src/queen/scheduling/find-workers.js";
import { LivenessSweeper } from "../../../src/queen/registry/liveness-sweeper.js";
import { MemoryRegistry } from "../../../src/queen/registry/memory-registry.js";
import { ChangeType, type RegistryEvent } from "../../../src/queen/registry/registry.js";
import { makeHiveInfo, makeReport, makeWorker } from "../helpers/telemetry-builders.js";

const MIN = 60_000;

function setup(opts: { retentionMs?: number; maxEnded?: number } = {}) {
  const clock = new ManualClock();
  const liveness = new LivenessClock(clock);
  const registry = new MemoryRegistry({ shards: 2, historySize: 1000, clock: liveness, endedWorkerRetentionMs: opts.retentionMs, maxEndedWorkersPerHive: opts.maxEnded });
  const events: RegistryEvent[] = [];
  registry.subscribe((e) => events.push(e));
  const sweeper = new LivenessSweeper(registry, liveness, { healthyMs: 3000, degradedMs: 10_000, evictAfterMs: 60_000, sweepIntervalMs: 250, shardsPerSweepSlice: 4 });
  return { clock, registry, events, sweeper };
}

const oom = () => makeWorker("oom", { state: WorkerState.FAILED, exitSignal: "SIGKILL", reason: "OOMKilled", endedAt: { seconds: 1_700_000_000n, nanos: 0 } });
const removed = (events: RegistryEvent[], id: string) => events.filter((e) => e.kind === "worker" && e.type === ChangeType.Removed && e.worker.workerId === id);

describe("ended workers on the queen", () => {
  it("keeps an ended worker for the retention (default 15 min) after its hive stops reporting it, then removes it", async () => {
    const { clock, registry, events, sweeper } = setup();
    registry.hello(makeHiveInfo("h1"), "i");
    registry.applyReport("h1", "i", makeReport(1, [], [makeWorker("live"), makeWorker("oom")]));
    registry.applyReport("h1", "i", makeReport(2, [], [makeWorker("live"), oom()]));
    // The hive got its ack and drops the ended worker; it keeps reporting every second.
    for (let seq = 3; seq < 3 + 14 * 60; seq++) {
      clock.advance(1000);
      registry.applyReport("h1", "i", makeReport(seq, [], [makeWorker("live")]));
      if (seq % 60 === 0) await sweeper.sweepAll();
    }
    const kept = registry.hive("h1")!.workers.get("oom")!;
    expect(kept).toMatchObject({ state: WorkerState.FAILED, exitSignal: "SIGKILL", reason: "OOMKilled" });
    expect(removed(events, "oom")).toEqual([]);
    const failed = findWorkers(registry, create(FindWorkersRequestSchema, { state: WorkerState.FAILED }));
    expect(failed.matches.map((m) => [m.worker!.workerId, m.worker!.reason])).toEqual([["oom", "OOMKilled"]]);
    expect(findWorkers(registry, create(FindWorkersRequestSchema, {})).matches.map((m) => m.worker!.workerId)).toEqual(["live"]);

    clock.advance(61_000 + 1000);
    registry.applyReport("h1", "i", makeReport(10_000, [], [makeWorker("live")]));
    await sweeper.sweepAll();
    expect(registry.hive("h1")!.workers.has("oom")).toBe(false);
    expect(removed(events, "oom")).toHaveLength(1);
    expect(findWorkers(registry, create(FindWorkersRequestSchema, { state: WorkerState.FAILED })).matches).toEqual([]);
    expect(registry.modelIndexEntries().map((e) => e.workerId)).toEqual(["live"]);
  });

  it("honours a configured retention, drops the oldest past the per-hive cap, and a respawn under the same id replaces the ended one", async () => {
    const { clock, registry, events, sweeper } = setup({ retentionMs: 5 * MIN, maxEnded: 2 });
    registry.hello(makeHiveInfo("h1"), "i");
    let seq = 0;
    for (const id of ["a", "b", "c"]) {
      registry.applyReport("h1", "i", makeReport(++seq, [], [makeWorker(id, { state: WorkerState.EXITED, exitCode: 0, reason: "Completed" })]));
      clock.advance(1000);
    }
    registry.applyReport("h1", "i", makeReport(++seq, [], []));
    expect([...registry.hive("h1")!.workers.keys()].sort()).toEqual(["b", "c"]);
    expect(removed(events, "a")).toHaveLength(1);
    registry.applyReport("h1", "i", makeReport(++seq, [], [makeWorker("b")]));
    expect(registry.hive("h1")!.workers.get("b")!.state).toBe(WorkerState.RUNNING);
    clock.advance(5 * MIN);
    registry.applyReport("h1", "i", makeReport(++seq, [], [makeWorker("b")]));
    await sweeper.sweepAll();
    expect([...registry.hive("h1")!.workers.keys()]).toEqual(["b"]);
    expect(findWorkers(registry, create(FindWorkersRequestSchema, { order: WorkerOrder.MOST_FREE_VRAM })).matches.map((m) => m.worker!.workerId)).toEqual(["b"]);
  });

  it("keeps a hive that left with workers running listed, DOWN, with its departure, until it is back", async () => {
    const { clock, registry, sweeper } = setup();
    registry.hello(makeHiveInfo("h1"), "i");
    registry.applyReport("h1", "i", makeReport(1, [], [makeWorker("w1"), makeWorker("w2")]));
    registry.depart("h1", "i", "hive stopped", 2);
    const view = registry.hive("h1")!;
    expect(view.health).toBe(HiveHealth.DOWN);
    expect(view.connected).toBe(false);
    expect(registry.hiveStatus(view, true).departure).toMatchObject({ reason: "hive stopped", workersLeftRunning: 2 });
    expect(registry.hiveStatus(view, true).workers).toHaveLength(2);
    clock.advance(1000);
    await sweeper.sweepAll();
    expect(registry.hive("h1")!.health).toBe(HiveHealth.DOWN); // not DEGRADED: it said it is gone
    registry.hello(makeHiveInfo("h1"), "j");
    expect(registry.hive("h1")!.health).toBe(HiveHealth.HEALTHY);
    expect(registry.hiveStatus(registry.hive("h1")!, false).departure).toBeUndefined();
    registry.depart("h1", "j", "hive stopped", 1);
    clock.advance(70_000);
    await sweeper.sweepAll();
    expect(registry.hive("h1")).toBeUndefined(); // evicted after the usual delay
  });
});
