import { describe, expect, it } from "vitest";
import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { LivenessClock, ManualClock } from "../../../src/common/clock.js";
import { LivenessSweeper } from "../../../src/queen/registry/liveness-sweeper.js";
import { MemoryRegistry } from "../../../src/queen/registry/memory-registry.js";
import { ChangeType, type RegistryEvent } from "../../../src/queen/registry/registry.js";
import { makeDevice, makeHiveInfo, makeReport, makeWorker } from "../helpers/telemetry-builders.js";

function setup() {
  const clock = new ManualClock();
  const liveness = new LivenessClock(clock);
  const owner = new MemoryRegistry({ shards: 4, historySize: 1_000, clock: liveness });
  const cache = new MemoryRegistry({ shards: 4, historySize: 1_000, clock: liveness });
  const events: RegistryEvent[] = [];
  cache.subscribe((e) => events.push(e));
  return { clock, liveness, owner, cache, events };
}

const summary = (events: RegistryEvent[]) =>
  events.map((e) => `${ChangeType[e.type]} ${e.kind === "hive" ? e.hiveId : `${e.hiveId}/${e.worker.workerId}`}`);

describe("registry cache: remote hives", () => {
  it("applies a remote hive's full state with the events a report would give, and shows its owner", () => {
    const { owner, cache, events } = setup();
    owner.hello(makeHiveInfo("h1"), "i1", "queen-a");
    owner.applyReport("h1", "i1", makeReport(1, [makeDevice("h1", 0)], [makeWorker("w1"), makeWorker("w2")]));
    cache.applyRemote(owner.hiveStatus(owner.hive("h1")!, true), "queen-a", "full");
    expect(summary(events)).toEqual(["Added h1", "Added h1/w1", "Added h1/w2"]);
    const remote = cache.hive("h1")!;
    expect(remote.remote).toBe(true);
    expect(cache.hiveStatus(remote, true)).toEqual(owner.hiveStatus(owner.hive("h1")!, true));
    expect(cache.hiveStatus(remote, false).ownerQueenId).toBe("queen-a");
    expect([...cache.schedulingListsOfModel("llama-3-8b")].flat().map((e) => e.worker.workerId).sort()).toEqual(["w1", "w2"]);

    events.length = 0;
    owner.applyReport("h1", "i1", makeReport(2, [makeDevice("h1", 0, { usedGiB: 10 })], [makeWorker("w1", { cpuPct: 90 })]));
    cache.applyRemote(owner.hiveStatus(owner.hive("h1")!, true), "queen-a", "full");
    expect(summary(events)).toEqual(["Updated h1", "Updated h1/w1", "Removed h1/w2"]);
    expect(cache.workerCount()).toBe(1);

    events.length = 0;
    cache.applyRemote(owner.hiveStatus(owner.hive("h1")!, true), "queen-a", "full");
    expect(events).toEqual([]); // the same state again is no change
  });

  it("keeps ended workers exactly as the owner reports them (the owner applies the retention)", () => {
    const { owner, cache, events } = setup();
    owner.hello(makeHiveInfo("h1"), "i1", "queen-a");
    owner.applyReport("h1", "i1", makeReport(1, [], [makeWorker("w1", { state: WorkerState.EXITED })]));
    cache.applyRemote(owner.hiveStatus(owner.hive("h1")!, true), "queen-a", "full");
    owner.applyReport("h1", "i1", makeReport(2, [], [])); // the owner carries w1
    cache.applyRemote(owner.hiveStatus(owner.hive("h1")!, true), "queen-a", "full");
    expect([...cache.hive("h1")!.workers.keys()]).toEqual(["w1"]);
    const status = owner.hiveStatus(owner.hive("h1")!, true);
    status.workers = [];
    events.length = 0;
    cache.applyRemote(status, "queen-a", "full");
    expect(summary(events)).toEqual(["Removed h1/w1"]);
  });

  it("membership scope changes health and connection but keeps the workers", () => {
    const { owner, cache, events } = setup();
    owner.hello(makeHiveInfo("h1"), "i1");
    owner.applyReport("h1", "i1", makeReport(1, [], [makeWorker("w1")]));
    cache.applyRemote(owner.hiveStatus(owner.hive("h1")!, true), "queen-a", "full");
    owner.markDisconnected("h1", "i1");
    events.length = 0;
    cache.applyRemote(owner.hiveStatus(owner.hive("h1")!, false), "queen-a", "membership");
    expect(summary(events)).toEqual(["Updated h1"]);
    expect(cache.hive("h1")!.health).toBe(HiveHealth.DEGRADED);
    expect(cache.hive("h1")!.connected).toBe(false);
    expect(cache.workerCount()).toBe(1);
  });

  it("a hello makes a remote hive local; makeRemote and forgetRemote", () => {
    const { owner, cache, events } = setup();
    owner.hello(makeHiveInfo("h1"), "i1");
    owner.applyReport("h1", "i1", makeReport(1, [], [makeWorker("w1")]));
    cache.applyRemote(owner.hiveStatus(owner.hive("h1")!, true), "queen-a", "full");

    cache.hello(makeHiveInfo("h1"), "i1", "queen-b");
    expect(cache.hive("h1")!.remote).toBe(false);
    expect(cache.hive("h1")!.ownerQueenId).toBe("queen-b");
    expect(cache.forgetRemote("h1", "gone")).toBe(false); // local now

    events.length = 0;
    cache.makeRemote("h1", "queen-c");
    cache.makeRemote("h1", "queen-c");
    expect(summary(events)).toEqual(["Updated h1"]);
    cache.markDisconnected("h1", "i1"); // its owner decides, not this queen
    expect(cache.hive("h1")!.connected).toBe(true);

    events.length = 0;
    expect(cache.forgetRemote("h1", "record deleted")).toBe(true);
    expect(summary(events)).toEqual(["Removed h1/w1", "Removed h1"]);
  });

  it("the liveness sweeper never judges a remote hive", async () => {
    const { clock, liveness, owner, cache } = setup();
    const sweeper = new LivenessSweeper(cache, liveness, { healthyMs: 3_000, degradedMs: 10_000, evictAfterMs: 60_000, sweepIntervalMs: 250, shardsPerSweepSlice: 4 });
    owner.hello(makeHiveInfo("remote"), "i1");
    cache.applyRemote(owner.hiveStatus(owner.hive("remote")!, true), "queen-a", "full");
    cache.hello(makeHiveInfo("local"), "i1", "queen-b");
    await sweeper.tick();
    for (let t = 0; t < 20_000; t += 250) {
      clock.advance(250);
      await sweeper.tick();
    }
    expect(cache.hive("remote")!.health).toBe(HiveHealth.HEALTHY);
    expect(cache.hive("local")!.health).toBe(HiveHealth.DOWN);
  });
});
