import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { HiveReportSchema, WorkerState, WorkerTelemetrySchema, type WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { EndedWorkers } from "../../src/hive/ended-workers.js";

function worker(workerId: string, state: WorkerState, pid = 100): WorkerTelemetry {
  return create(WorkerTelemetrySchema, { workerId, state, pid });
}

const ids = (workers: WorkerTelemetry[]) => workers.map((w) => `${w.workerId}:${WorkerState[w.state]}`);

describe("EndedWorkers", () => {
  it("carries an ended worker in every tick until a report holding it is delivered", () => {
    const ended = new EndedWorkers();
    const first = ended.carry([worker("a", WorkerState.RUNNING), worker("b", WorkerState.FAILED)]);
    expect(ids(first)).toEqual(["a:RUNNING", "b:FAILED"]);
    // Later samples no longer name b: it is carried anyway, in id order.
    expect(ids(ended.carry([worker("c", WorkerState.RUNNING)]))).toEqual(["b:FAILED", "c:RUNNING"]);
    expect(ids(ended.carry([worker("c", WorkerState.RUNNING)]))).toEqual(["b:FAILED", "c:RUNNING"]);
    ended.delivered(create(HiveReportSchema, { workers: first }));
    expect(ids(ended.carry([worker("c", WorkerState.RUNNING)]))).toEqual(["c:RUNNING"]);
    expect(ended.size).toBe(0);
  });

  it("keeps the first final state and ignores delivery of another process of the same id", () => {
    const ended = new EndedWorkers();
    ended.carry([worker("a", WorkerState.EXITED, 100)]);
    ended.delivered(create(HiveReportSchema, { workers: [worker("a", WorkerState.EXITED, 200)] }));
    expect(ids(ended.carry([]))).toEqual(["a:EXITED"]);
  });

  it("stops carrying an ended worker when a live worker takes its id", () => {
    const ended = new EndedWorkers();
    ended.carry([worker("a", WorkerState.FAILED, 100)]);
    expect(ids(ended.carry([worker("a", WorkerState.RUNNING, 200)]))).toEqual(["a:RUNNING"]);
    expect(ended.size).toBe(0);
  });

  it("drops what was never delivered after its maximum age, and the oldest beyond its maximum count", () => {
    let now = 0;
    const ended = new EndedWorkers({ maxAgeMs: 1000, maxCount: 2, now: () => now });
    ended.carry([worker("a", WorkerState.FAILED)]);
    now = 500;
    ended.carry([worker("b", WorkerState.EXITED)]);
    now = 1001;
    expect(ids(ended.carry([]))).toEqual(["b:EXITED"]);
    ended.carry([worker("c", WorkerState.EXITED), worker("d", WorkerState.EXITED)]);
    expect(ids(ended.carry([]))).toEqual(["c:EXITED", "d:EXITED"]);
  });

  it("orders workers by code units, as the queen does, whatever the locale", () => {
    const ended = new EndedWorkers({ now: () => 0 });
    ended.carry([create(WorkerTelemetrySchema, { workerId: "b", pid: 1, state: WorkerState.EXITED })]);
    const ids = ended.carry(["a", "B", "w-10", "W-2"].map((workerId) => create(WorkerTelemetrySchema, { workerId, pid: 2, state: WorkerState.RUNNING }))).map((w) => w.workerId);
    expect(ids).toEqual(["B", "W-2", "a", "b", "w-10"]);
  });

  it("lets a caller wait until an ended worker's report is delivered, bounded", async () => {
    const ended = new EndedWorkers({ now: () => 0 });
    const final = create(WorkerTelemetrySchema, { workerId: "x", pid: 7, state: WorkerState.FAILED });
    const carried = ended.carry([final]);
    const waiting = ended.whenDelivered("x", 10_000);
    ended.delivered(create(HiveReportSchema, { workers: carried }));
    expect(await waiting).toBe(true);
    expect(await ended.whenDelivered("x", 10_000)).toBe(true); // not held any more
    ended.carry([create(WorkerTelemetrySchema, { workerId: "y", pid: 8, state: WorkerState.EXITED })]);
    expect(await ended.whenDelivered("y", 10)).toBe(false);
  });
});
