import { describe, expect, it } from "vitest";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { HiveHealth, ObjectEventLevel } from "../../../gen/apiary/v1/queen_pb.js";
import { CollectionErrorSchema, GpuProbeState, GpuProbeStatusSchema, WorkerState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { create } from "@bufbuild/protobuf";
import { LivenessClock, ManualClock } from "../../../src/common/clock.js";
import { MemoryRegistry } from "../../../src/queen/registry/memory-registry.js";
import { ObjectEvents } from "../../../src/queen/registry/object-events.js";
import { makeHiveInfo, makeReport, makeWorker } from "../helpers/telemetry-builders.js";
import { startTestQueen } from "../helpers/queen-fixture.js";

function setup(options = {}) {
  const clock = new ManualClock();
  const registry = new MemoryRegistry({ shards: 4, historySize: 100, clock: new LivenessClock(clock) });
  const events = new ObjectEvents(registry, clock, options);
  return { clock, registry, events };
}

const reasons = (events: ObjectEvents, hiveId: string, workerId = "") => events.list(hiveId, workerId).map((e) => `${e.reason}: ${e.message}`);

describe("ObjectEvents (per-object event log from the registry's changes)", () => {
  it("records a hive's joining, health changes and restarts, once per change", () => {
    const { registry, events } = setup();
    registry.hello(makeHiveInfo("h1"), "inc-1");
    registry.applyReport("h1", "inc-1", makeReport(1, [], []));
    registry.applyReport("h1", "inc-1", makeReport(2, [], []));
    registry.setHealth("h1", HiveHealth.DEGRADED);
    registry.setHealth("h1", HiveHealth.DOWN);
    registry.hello(makeHiveInfo("h1"), "inc-2");
    const log = events.list("h1");
    expect(log.map((e) => e.reason)).toEqual(["Joined", "HealthChanged", "HealthChanged", "Restarted", "HealthChanged"]);
    expect(log.map((e) => e.message).slice(1, 3)).toEqual(["HEALTHY → DEGRADED", "DEGRADED → DOWN"]);
    expect(log[1].level).toBe(ObjectEventLevel.WARNING);
    expect(log[4]).toMatchObject({ message: "DOWN → HEALTHY", level: ObjectEventLevel.NORMAL });
    expect(log.every((e, i) => i === 0 || e.revision >= log[i - 1].revision)).toBe(true);
  });

  it("records a worker's start, collection errors, back-off, restarts, OOM kill and end, also in its hive's log", () => {
    const { registry, events } = setup();
    registry.hello(makeHiveInfo("h1"), "i");
    const w = (init: Parameters<typeof makeWorker>[1]) => makeWorker("w1", { model: "m", pid: 10, ...init });
    const err = create(CollectionErrorSchema, { source: "procfs", message: "/proc/10/io: EACCES" });
    const reports = [
      w({ state: WorkerState.RUNNING }),
      w({ state: WorkerState.RUNNING, errors: [err] }),
      w({ state: WorkerState.RUNNING, errors: [err], cpuPct: 5 }), // same error again: no new event
      w({ state: WorkerState.BACKOFF, restartCount: 0, nextRestartAt: timestampFromMs(0), lastExit: { state: WorkerState.FAILED, reason: "OOM-killed: the worker's cgroup reached its memory limit" } }),
      w({ state: WorkerState.RUNNING, restartCount: 1, pid: 11 }),
      w({ state: WorkerState.FAILED, restartCount: 1, pid: 11, exitCode: 3 }),
    ];
    reports.forEach((worker, i) => registry.applyReport("h1", "i", makeReport(i + 1, [], [worker])));
    expect(reasons(events, "h1", "w1")).toEqual([
      "Started: pid 10, model m",
      "CollectionError: procfs: /proc/10/io: EACCES",
      "OOMKilled: OOM-killed: the worker's cgroup reached its memory limit",
      "BackOff: OOM-killed: the worker's cgroup reached its memory limit; restart 1 at 1970-01-01T00:00:00.000Z",
      "Restarted: restart 1, pid 11",
      "Failed: exit code 3",
    ]);
    expect(reasons(events, "h1").slice(1)).toEqual([
      "OOMKilled: worker w1: OOM-killed: the worker's cgroup reached its memory limit",
      "BackOff: worker w1: OOM-killed: the worker's cgroup reached its memory limit; restart 1 at 1970-01-01T00:00:00.000Z",
      "Restarted: worker w1: restart 1, pid 11",
      "Failed: worker w1: exit code 3",
    ]);
    expect(events.list("h1", "w1", 2).map((e) => e.reason)).toEqual(["Restarted", "Failed"]);
    // The hive stops reporting the ended worker: the queen keeps it for a while, and its events with it.
    registry.applyReport("h1", "i", makeReport(10, [], []));
    expect(events.list("h1", "w1")).toHaveLength(6);
    expect(events.list("h1")).toHaveLength(5);
  });

  it("counts every back-off, also when no report saw the worker running in between", () => {
    const { registry, events } = setup();
    registry.hello(makeHiveInfo("h1"), "i");
    const lastExit = { state: WorkerState.FAILED, exitCode: 1, reason: "exited with code 1" };
    for (let n = 0; n < 3; n++) {
      const w = makeWorker("w1", { state: WorkerState.BACKOFF, restartCount: n, nextRestartAt: timestampFromMs(1000 * (n + 1)), lastExit });
      registry.applyReport("h1", "i", makeReport(n + 1, [], [w]));
    }
    expect(events.list("h1", "w1").map((e) => [e.reason, e.count])).toEqual([["Started", 1], ["BackOff", 3], ["Restarted", 2]]);
  });

  it("counts repeats of a recent event instead of adding them (a flapping probe, the same error with other numbers)", () => {
    const { registry, events, clock } = setup();
    registry.hello(makeHiveInfo("h1"), "i");
    const probe = (seq: number, state: GpuProbeState, message: string) => {
      const report = makeReport(seq, [], []);
      report.gpuProbe = create(GpuProbeStatusSchema, { state, message });
      if (state !== GpuProbeState.OK) report.errors = [create(CollectionErrorSchema, { source: "gpu", message })];
      clock.advance(1000);
      registry.applyReport("h1", "i", report);
    };
    probe(1, GpuProbeState.OK, "");
    for (let i = 0; i < 3; i++) {
      probe(2 + 2 * i, GpuProbeState.TIMEOUT, `no answer for ${1000 + i} ms`);
      probe(3 + 2 * i, GpuProbeState.OK, "");
    }
    const log = events.list("h1");
    expect(log.map((e) => [e.reason, e.count])).toEqual([["Joined", 1], ["GpuProbe", 3], ["CollectionError", 3], ["GpuProbe", 3]]);
    expect(log[1].message).toBe("GPU probe OK → TIMEOUT: no answer for 1002 ms");
    expect(Number(log[1].lastAt!.seconds - log[1].at!.seconds)).toBe(4);
  });

  it("forgets a hive's and its workers' events when the hive is evicted", () => {
    const { registry, events } = setup();
    registry.hello(makeHiveInfo("h1"), "i");
    registry.applyReport("h1", "i", makeReport(1, [], [makeWorker("w1", { state: WorkerState.RUNNING })]));
    expect(events.log.objects).toBe(2);
    registry.hello(makeHiveInfo("h10"), "i"); // a hive id the first one is a prefix of
    registry.applyReport("h10", "i", makeReport(1, [], [makeWorker("w1", { state: WorkerState.RUNNING })]));
    registry.evict("h1", "test");
    expect(events.list("h1")).toEqual([]);
    expect(events.list("h1", "w1")).toEqual([]);
    expect(events.log.objects).toBe(2);
    expect(reasons(events, "h10", "w1")).toEqual(["Started: pid 1000, model llama-3-8b"]);
    // Back after the eviction: its worker is new again.
    registry.hello(makeHiveInfo("h1"), "i2");
    registry.applyReport("h1", "i2", makeReport(1, [], [makeWorker("w1", { state: WorkerState.RUNNING })]));
    expect(reasons(events, "h1", "w1")).toEqual(["Started: pid 1000, model llama-3-8b"]);
    registry.evict("h10", "test");
    expect(events.list("h10", "w1")).toEqual([]);
    expect(events.log.objects).toBe(2);
  });

  it("stays bounded per object and in number of objects", () => {
    const { registry, events } = setup({ perObject: 3, maxObjects: 4 });
    registry.hello(makeHiveInfo("h1"), "i");
    for (let i = 0; i < 10; i++) registry.hello(makeHiveInfo("h1"), `i${i}`);
    expect(events.list("h1").map((e) => e.message)).toEqual(["i7", "i8", "i9"].map((i) => `new hive process (incarnation ${i})`));
    for (let i = 2; i <= 6; i++) registry.hello(makeHiveInfo(`h${i}`), "i");
    expect(events.log.objects).toBe(4);
    expect(events.list("h1")).toEqual([]); // the object written longest ago went first
  });
});

describe("QueenService.ListEvents", () => {
  it("answers a known hive's events, and INVALID_ARGUMENT naming the field", async () => {
    const { queen, client } = await startTestQueen();
    try {
      queen.registry.hello(makeHiveInfo("h1"), "inc");
      const res = await client.listEvents({ hiveId: "h1" });
      expect(res.events.map((e) => e.reason)).toEqual(["Joined"]);
      expect(res.events[0].at).toBeDefined();
      expect((await client.listEvents({ hiveId: "unknown" })).events).toEqual([]);
      const err = await client.listEvents({ hiveId: "" }).catch((e: unknown) => ConnectError.from(e));
      expect(err).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^hive_id: /) });
      const err2 = await client.listEvents({ hiveId: "h1", workerId: "a b" }).catch((e: unknown) => ConnectError.from(e));
      expect(err2).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^worker_id: /) });
    } finally {
      await queen.close();
    }
  });
});
