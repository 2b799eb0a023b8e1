import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import {
  EventType, HiveHealth, HiveStatusSchema, WatchResponseSchema, type WatchResponse,
} from "../../gen/apiary/v1/queen_pb.js";
import { HiveInfoSchema, WorkerTelemetrySchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { ClusterState } from "../../src/client/cluster-state.js";
import { renderTop } from "../../src/cli/top-view.js";

function hive(id: string, type: EventType, revision: bigint, snapshot = false): WatchResponse {
  return create(WatchResponseSchema, {
    revision, epoch: "e1", snapshot,
    kind: { case: "hive", value: { type, hive: create(HiveStatusSchema, { info: create(HiveInfoSchema, { hiveId: id }), health: HiveHealth.HEALTHY }) } },
  });
}
function worker(hiveId: string, id: string, type: EventType, revision: bigint, snapshot = false): WatchResponse {
  return create(WatchResponseSchema, {
    revision, epoch: "e1", snapshot,
    kind: { case: "worker", value: { type, hiveId, worker: create(WorkerTelemetrySchema, { workerId: id, model: "m" }) } },
  });
}
const end = (revision: bigint) =>
  create(WatchResponseSchema, { revision, epoch: "e1", snapshot: true, kind: { case: "snapshotEnd", value: {} } });

describe("ClusterState", () => {
  it("replaces its state only when a snapshot completes", () => {
    const state = new ClusterState();
    state.apply(hive("old", EventType.ADDED, 1n));
    state.apply(hive("a", EventType.ADDED, 5n, true));
    expect([...state.hives.keys()]).toEqual(["old"]);
    state.apply(worker("a", "w1", EventType.ADDED, 5n, true));
    state.apply(end(5n));
    expect([...state.hives.keys()]).toEqual(["a"]);
    expect([...state.workers.keys()]).toEqual(["a/w1"]);
    expect(state.revision).toBe(5n);
  });

  it("applies live events and drops a removed hive's workers", () => {
    const state = new ClusterState();
    state.apply(end(0n));
    state.apply(hive("a", EventType.ADDED, 1n));
    state.apply(worker("a", "w1", EventType.ADDED, 2n));
    state.apply(worker("a", "w2", EventType.ADDED, 3n));
    state.apply(worker("a", "w1", EventType.REMOVED, 4n));
    expect([...state.workers.keys()]).toEqual(["a/w2"]);
    state.apply(hive("a", EventType.REMOVED, 5n));
    expect(state.hives.size).toBe(0);
    expect(state.workers.size).toBe(0);
    expect(renderTop(state, "live")).toContain("0 hives, 0 workers, revision 5");
  });
});
