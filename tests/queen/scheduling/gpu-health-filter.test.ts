// FindDevices and FindWorkers leave out GPUs their hive judged UNHEALTHY unless include_unhealthy_gpus;
// a worker with any one of its GPUs UNHEALTHY counts as on an unhealthy GPU. Real queen, real gRPC.
import type { Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import { GpuHealthState, type GpuDevice } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { gpuUuid, makeDevice, makeHiveInfo, makeReport, makeWorker } from "../helpers/telemetry-builders.js";
import { TestHive } from "../helpers/test-hive.js";

let queen: Queen;
let client: Client<typeof QueenService>;
let hive: TestHive;

function judged(device: GpuDevice, state: GpuHealthState, reasons: string[] = []): GpuDevice {
  device.health = { $typeName: "apiary.v1.GpuHealth", state, reasons, recentXids: [], xidCounts: [] } as GpuDevice["health"];
  return device;
}

const devices = () => [
  judged(makeDevice("a", 0), GpuHealthState.HEALTHY),
  judged(makeDevice("a", 1), GpuHealthState.UNHEALTHY, ["Xid 79 (reset needed)"]),
  judged(makeDevice("a", 2), GpuHealthState.DEGRADED, ["pcie.link.width x4 below max x16"]),
  makeDevice("a", 3), // an old hive: not judged (UNSPECIFIED) counts as healthy
];
const workers = [
  makeWorker("on-healthy", { model: "llama", gpuUuids: [gpuUuid("a", 0)] }),
  makeWorker("on-sick", { model: "llama", gpuUuids: [gpuUuid("a", 1)] }),
  makeWorker("partly-sick", { model: "llama", gpuUuids: [gpuUuid("a", 0), gpuUuid("a", 1)] }),
  makeWorker("on-degraded", { model: "llama", gpuUuids: [gpuUuid("a", 2)] }),
  makeWorker("on-unjudged", { model: "llama", gpuUuids: [gpuUuid("a", 3)] }),
  makeWorker("no-gpu", { model: "llama" }),
];

beforeAll(async () => {
  ({ queen, client } = await startTestQueen());
  hive = await TestHive.connect(queen.url, makeHiveInfo("a"));
  await hive.report(makeReport(1, devices(), workers));
});
afterAll(async () => {
  hive.abort();
  await queen.close();
});

const ids = (r: { matches: { worker?: { workerId: string } }[] }) => r.matches.map((m) => m.worker!.workerId).sort();
const indexes = (r: { matches: { device?: { index: number } }[] }) => r.matches.map((m) => m.device!.index);

describe("GPU health in scheduling", () => {
  it("FindDevices skips UNHEALTHY GPUs by default and offers DEGRADED and unjudged ones", async () => {
    const r = await client.findDevices({});
    expect(indexes(r)).toEqual([0, 2, 3]);
    expect(r.totalMatches).toBe(3);
  });
  it("FindDevices with include_unhealthy_gpus shows them, with the reasons", async () => {
    const r = await client.findDevices({ includeUnhealthyGpus: true });
    expect(indexes(r)).toEqual([0, 1, 2, 3]);
    expect(r.matches[1].device?.health?.reasons).toEqual(["Xid 79 (reset needed)"]);
  });
  it("FindWorkers leaves out workers with any UNHEALTHY GPU (all or part of theirs)", async () => {
    expect(ids(await client.findWorkers({ model: "llama" }))).toEqual(["no-gpu", "on-degraded", "on-healthy", "on-unjudged"]);
  });
  it("FindWorkers with include_unhealthy_gpus returns them too", async () => {
    expect(ids(await client.findWorkers({ model: "llama", includeUnhealthyGpus: true }))).toEqual(
      ["no-gpu", "on-degraded", "on-healthy", "on-sick", "on-unjudged", "partly-sick"],
    );
  });
  it("FindDevices offers a MIG-enabled GPU's instances, not the GPU itself", async () => {
    const m = await TestHive.connect(queen.url, makeHiveInfo("m"));
    try {
      const parent = makeDevice("m", 0);
      parent.migModeCurrent = true;
      const instance = makeDevice("m", 0, { totalGiB: 40 });
      instance.uuid = "MIG-m-0";
      instance.parentUuid = parent.uuid;
      instance.migProfile = "3g.40gb";
      await m.report(makeReport(1, [parent, instance], []));
      const r = await client.findDevices({ hiveIds: ["m"] });
      expect(r.matches.map((x) => [x.device!.uuid, x.device!.migProfile])).toEqual([["MIG-m-0", "3g.40gb"]]);
    } finally {
      m.abort();
    }
  });
  it("a GPU that recovers is offered again at the next report", async () => {
    const healed = devices().map((d) => judged(d, GpuHealthState.HEALTHY));
    await hive.report(makeReport(2, healed, workers));
    expect(indexes(await client.findDevices({}))).toEqual([0, 1, 2, 3]);
    expect(ids(await client.findWorkers({ model: "llama" }))).toHaveLength(6);
  });
});
