import { describe, expect, it } from "vitest";
import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { LivenessClock, ManualClock } from "../../../src/common/clock.js";
import { MemoryRegistry } from "../../../src/queen/registry/memory-registry.js";
import { ChangeType, type RegistryEvent } from "../../../src/queen/registry/registry.js";
import { referenceFreeVram } from "../helpers/find-workers-reference.js";
import { makeDevice, makeHiveInfo, makeReport, makeWorker, syntheticReport } from "../helpers/telemetry-builders.js";

function setup(historySize = 10_000) {
  const clock = new ManualClock();
  const registry = new MemoryRegistry({ shards: 4, historySize, clock: new LivenessClock(clock) });
  const events: RegistryEvent[] = [];
  registry.subscribe((e) => events.push(e));
  return { clock, registry, events };
}

/**
 * The model index must hold exactly the workers the hives hold, and each worker's scheduling entry
 * must show its latest telemetry and its free VRAM under the hive's latest devices.
 */
function expectIndexExact(registry: MemoryRegistry): void {
  const expected: string[] = [];
  for (const hive of registry.hives()) {
    expect([...hive.schedulingEntries.keys()].sort()).toEqual([...hive.workers.keys()].sort());
    for (const w of hive.workers.values()) {
      expected.push(`${w.model}|${hive.hiveId}|${w.workerId}`);
      const entry = hive.schedulingEntries.get(w.workerId)!;
      const free = referenceFreeVram(hive, w);
      expect(entry.hive).toBe(hive);
      expect(entry.worker).toBe(w);
      expect(entry.state).toBe(w.state);
      expect(entry.gpuUtil).toBe(w.gpuUtilizationPct ?? NaN);
      expect(entry.freeVram).toBe(free === undefined ? NaN : Number(free));
    }
  }
  const actual = registry.modelIndexEntries().map((e) => `${e.model}|${e.hiveId}|${e.workerId}`);
  expect(actual.sort()).toEqual(expected.sort());
  expect(registry.workerCount()).toBe(expected.length);
}

const describeEvents = (events: RegistryEvent[]) =>
  events.map((e) => `${e.kind}:${ChangeType[e.type]}:${e.hiveId}${e.kind === "worker" ? "/" + e.worker.workerId : ""}`);

describe("MemoryRegistry", () => {
  it("adds a hive on hello and its workers on the first report", () => {
    const { registry, events } = setup();
    registry.hello(makeHiveInfo("h1"), "inc1");
    const rev = registry.applyReport("h1", "inc1", syntheticReport({ hiveId: "h1", workers: 3, gpus: 2 }));
    expect(describeEvents(events)).toEqual([
      "hive:Added:h1",
      "hive:Updated:h1",
      "worker:Added:h1/w0",
      "worker:Added:h1/w1",
      "worker:Added:h1/w2",
    ]);
    expect(rev).toBe(5);
    expect(events.map((e) => e.revision)).toEqual([1, 2, 3, 4, 5]);
    const hive = registry.hive("h1")!;
    expect(hive.devices).toHaveLength(2);
    expect(hive.devicesByUuid.get("GPU-h1-1")?.index).toBe(1);
    expectIndexExact(registry);
  });

  it("emits nothing for an identical report and only the changed workers otherwise", () => {
    const { registry, events } = setup();
    registry.hello(makeHiveInfo("h1"), "inc1");
    registry.applyReport("h1", "inc1", syntheticReport({ hiveId: "h1", workers: 3, gpus: 1 }));
    const before = registry.revision();
    events.length = 0;
    registry.applyReport("h1", "inc1", syntheticReport({ hiveId: "h1", seq: 2, workers: 3, gpus: 1 }));
    expect(events).toEqual([]);
    expect(registry.revision()).toBe(before);
    expect(registry.hive("h1")!.lastSeq).toBe(2n);

    const report = syntheticReport({ hiveId: "h1", seq: 3, workers: 3, gpus: 1 });
    report.workers[1] = makeWorker("w1", { ...report.workers[1], cpuPct: 399.5, model: "other" });
    report.workers.pop(); // w2 gone
    registry.applyReport("h1", "inc1", report);
    expect(describeEvents(events)).toEqual(["worker:Updated:h1/w1", "worker:Removed:h1/w2"]);
    expectIndexExact(registry);
    const other = [...registry.schedulingListsOfModel("other")].flat();
    expect(other.map((e) => `${e.hive.hiveId}/${e.worker.workerId}`)).toEqual(["h1/w1"]);
  });

  it("replaces everything of an old incarnation with the new one's report", () => {
    const { registry, events } = setup();
    registry.hello(makeHiveInfo("h1"), "inc1");
    registry.applyReport("h1", "inc1", syntheticReport({ hiveId: "h1", workers: 4, gpus: 2 }));
    const hello = registry.hello(makeHiveInfo("h1"), "inc2");
    expect(hello.newIncarnation).toBe(true);
    expect(() => registry.applyReport("h1", "inc1", syntheticReport({ hiveId: "h1", workers: 1, gpus: 1 }))).toThrow(/has a newer incarnation/);
    events.length = 0;
    registry.applyReport("h1", "inc2", makeReport(1, [makeDevice("h1", 0)], [makeWorker("w0", { gpuUuids: ["GPU-h1-0"], model: "m" }), makeWorker("n1")]));
    const kinds = describeEvents(events);
    expect(kinds).toContain("worker:Added:h1/n1");
    expect(kinds).toContain("worker:Updated:h1/w0");
    for (const gone of ["w1", "w2", "w3"]) expect(kinds).toContain(`worker:Removed:h1/${gone}`);
    expect([...registry.hive("h1")!.workers.keys()].sort()).toEqual(["n1", "w0"]);
    expect(registry.hive("h1")!.devices).toHaveLength(1);
    expect(registry.hive("h1")!.incarnation).toBe("inc2");
    expectIndexExact(registry);
  });

  it("eviction removes every worker from every index, then the hive", () => {
    const { registry, events } = setup();
    for (const id of ["a", "b", "c"]) {
      registry.hello(makeHiveInfo(id), "i");
      registry.applyReport(id, "i", syntheticReport({ hiveId: id, workers: 5, gpus: 2 }));
    }
    events.length = 0;
    expect(registry.evict("b", "test")).toBe(true);
    expect(describeEvents(events)).toEqual([
      ...[0, 1, 2, 3, 4].map((i) => `worker:Removed:b/w${i}`),
      "hive:Removed:b",
    ]);
    expect(registry.hive("b")).toBeUndefined();
    expect(registry.hiveCount()).toBe(2);
    expect(registry.workerCount()).toBe(10);
    const model0 = [...registry.schedulingListsOfModel("model-0")].flat();
    expect(model0.map((e) => e.hive.hiveId).sort()).toEqual(["a", "a", "c", "c"]);
    expectIndexExact(registry);
    expect(registry.evict("b", "again")).toBe(false);
  });

  it("keeps the index exact through many random reports, incarnations and evictions", () => {
    const { registry } = setup();
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let step = 0; step < 400; step++) {
      const id = `h${rnd(6)}`;
      const action = rnd(10);
      if (action === 0) registry.evict(id, "test");
      else {
        const inc = `inc${rnd(2)}`;
        if (!registry.hive(id) || registry.hive(id)!.incarnation !== inc) registry.hello(makeHiveInfo(id), inc);
        registry.applyReport(id, inc, syntheticReport({ hiveId: id, seq: step, workers: rnd(8), gpus: rnd(3), model: (i) => `m${(i + step) % 3}`, tick: step }));
      }
      expectIndexExact(registry);
    }
  });

  it("gives every change the next revision and keeps a bounded history for resume", () => {
    const { registry, events } = setup(8);
    registry.hello(makeHiveInfo("h1"), "i");
    for (let seq = 1; seq <= 5; seq++) {
      registry.applyReport("h1", "i", syntheticReport({ hiveId: "h1", seq, workers: 2, gpus: 1, tick: seq }));
    }
    const revisions = events.map((e) => e.revision);
    expect(revisions).toEqual(revisions.map((_, i) => i + 1));
    const current = registry.revision();
    expect(registry.eventsSince(current)).toEqual([]);
    expect(registry.eventsSince(current - 8)!.map((e) => e.revision)).toEqual(revisions.slice(-8));
    expect(registry.eventsSince(current - 3)!.map((e) => e.revision)).toEqual(revisions.slice(-3));
    expect(registry.eventsSince(current - 9)).toBeUndefined();
    expect(registry.eventsSince(current + 1)).toBeUndefined();
  });

  it("marks a broken stream DEGRADED at once and a hello makes it HEALTHY again", () => {
    const { registry, events } = setup();
    registry.hello(makeHiveInfo("h1"), "i");
    registry.markDisconnected("h1", "other-incarnation");
    expect(registry.hive("h1")!.connected).toBe(true);
    registry.markDisconnected("h1", "i");
    expect(registry.hive("h1")!.health).toBe(HiveHealth.DEGRADED);
    expect(registry.hive("h1")!.connected).toBe(false);
    expect(events.at(-1)).toMatchObject({ kind: "hive", type: ChangeType.Updated });
    registry.hello(makeHiveInfo("h1"), "i");
    expect(registry.hive("h1")!.health).toBe(HiveHealth.HEALTHY);
    expect(registry.hive("h1")!.connected).toBe(true);
  });

  it("reports exited workers with their state", () => {
    const { registry } = setup();
    registry.hello(makeHiveInfo("h1"), "i");
    registry.applyReport("h1", "i", makeReport(1, [], [makeWorker("w", { state: WorkerState.FAILED, exitCode: 1 })]));
    expect(registry.hive("h1")!.workers.get("w")!.state).toBe(WorkerState.FAILED);
  });
});
