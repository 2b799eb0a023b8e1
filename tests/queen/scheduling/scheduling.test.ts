import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeviceOrder, HiveHealth, WorkerOrder, type QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import { waitUntil } from "../../helpers/wait.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { GiB, gpuUuid, makeDevice, makeHiveInfo, makeReport, makeWorker } from "../helpers/telemetry-builders.js";
import { TestHive } from "../helpers/test-hive.js";

let queen: Queen;
let client: Client<typeof QueenService>;
const hives: TestHive[] = [];

beforeAll(async () => {
  ({ queen, client } = await startTestQueen());
  const a = await TestHive.connect(queen.url, makeHiveInfo("a", { zone: "eu", class: "h100" }));
  await a.report(
    makeReport(
      1,
      [makeDevice("a", 0, { usedGiB: 10, utilizationPct: 10 }), makeDevice("a", 1, { usedGiB: 60, utilizationPct: 90 })],
      [
        makeWorker("w1", { model: "llama", gpuUuids: [gpuUuid("a", 0)], gpuUtilizationPct: 3 }),
        makeWorker("w2", { model: "llama", gpuUuids: [gpuUuid("a", 0), gpuUuid("a", 1)], gpuUtilizationPct: 40 }),
        makeWorker("w3", { model: "mistral", gpuUuids: [gpuUuid("a", 1)], gpuUtilizationPct: 95 }),
        makeWorker("w4", { model: "llama", gpuUuids: [gpuUuid("a", 0)], state: WorkerState.STARTING }),
      ],
    ),
  );
  const b = await TestHive.connect(queen.url, makeHiveInfo("b", { zone: "us" }));
  await b.report(
    makeReport(
      1,
      [makeDevice("b", 0, { totalGiB: 40, usedGiB: 8, utilizationPct: 50 })],
      [makeWorker("w1", { model: "llama", gpuUuids: [gpuUuid("b", 0)], gpuUtilizationPct: 1 }), makeWorker("w2", { model: "llama" })],
    ),
  );
  const c = await TestHive.connect(queen.url, makeHiveInfo("c", { zone: "eu" }));
  await c.report(makeReport(1, [makeDevice("c", 0, { utilizationPct: 0 })], [makeWorker("w1", { model: "llama", gpuUuids: [gpuUuid("c", 0)], gpuUtilizationPct: 20 })]));
  await c.halfClose(); // broken stream: c is DEGRADED
  await waitUntil(() => queen.registry.hive("c")?.health === HiveHealth.DEGRADED, "hive c degraded");
  hives.push(a, b);
});

afterAll(async () => {
  for (const hive of hives) hive.abort();
  await queen.close();
});

const ids = (r: { matches: { hiveId: string; worker?: { workerId: string } }[] }) => r.matches.map((m) => `${m.hiveId}/${m.worker!.workerId}`);
const devs = (r: { matches: { hiveId: string; device?: { index: number } }[] }) => r.matches.map((m) => `${m.hiveId}/${m.device!.index}`);

describe("FindWorkers", () => {
  it("defaults to RUNNING workers on HEALTHY hives, ordered by hive then worker", async () => {
    const r = await client.findWorkers({ model: "llama" });
    expect(ids(r)).toEqual(["a/w1", "a/w2", "b/w1", "b/w2"]);
    expect(r.totalMatches).toBe(4);
    expect(r.revision).toBe(BigInt(queen.registry.revision()));
    expect(r.matches[0].hiveEndpoint).toBe("http://a.local:7835");
    expect(r.matches[0].health).toBe(HiveHealth.HEALTHY);
  });

  it("computes free VRAM as the minimum over the worker's GPUs", async () => {
    const r = await client.findWorkers({ model: "llama" });
    const free = Object.fromEntries(r.matches.map((m) => [`${m.hiveId}/${m.worker!.workerId}`, m.freeVramBytes]));
    expect(free).toEqual({ "a/w1": 70n * GiB, "a/w2": 20n * GiB, "b/w1": 32n * GiB, "b/w2": undefined });
    expect(ids(await client.findWorkers({ minFreeVramBytes: 30n * GiB }))).toEqual(["a/w1", "b/w1"]);
  });

  it("orders by most free VRAM and by least utilisation, unknown last", async () => {
    expect(ids(await client.findWorkers({ model: "llama", order: WorkerOrder.MOST_FREE_VRAM }))).toEqual(["a/w1", "b/w1", "a/w2", "b/w2"]);
    expect(ids(await client.findWorkers({ model: "llama", order: WorkerOrder.LEAST_UTILIZED }))).toEqual(["b/w1", "a/w1", "a/w2", "b/w2"]);
  });

  it("filters by utilisation, idleness, labels, hive ids, state and health", async () => {
    expect(ids(await client.findWorkers({ idleOnly: true }))).toEqual(["a/w1", "b/w1"]);
    expect(ids(await client.findWorkers({ maxGpuUtilizationPct: 50 }))).toEqual(["a/w1", "a/w2", "b/w1"]);
    expect(ids(await client.findWorkers({ hiveLabels: { zone: "eu" } }))).toEqual(["a/w1", "a/w2", "a/w3"]);
    expect(ids(await client.findWorkers({ hiveLabels: { zone: "eu", class: "h100" }, model: "mistral" }))).toEqual(["a/w3"]);
    expect(ids(await client.findWorkers({ hiveLabels: { zone: "eu" }, includeDegraded: true }))).toEqual(["a/w1", "a/w2", "a/w3", "c/w1"]);
    expect(ids(await client.findWorkers({ hiveIds: ["b"] }))).toEqual(["b/w1", "b/w2"]);
    expect(ids(await client.findWorkers({ hiveIds: ["b", "a"], model: "mistral" }))).toEqual(["a/w3"]);
    expect(ids(await client.findWorkers({ state: WorkerState.STARTING }))).toEqual(["a/w4"]);
    expect(ids(await client.findWorkers({ model: "nope" }))).toEqual([]);
    const degraded = await client.findWorkers({ hiveIds: ["c"], includeDegraded: true });
    expect(degraded.matches[0].health).toBe(HiveHealth.DEGRADED);
  });

  it("applies limit after counting every match", async () => {
    const r = await client.findWorkers({ model: "llama", order: WorkerOrder.MOST_FREE_VRAM, limit: 2 });
    expect(ids(r)).toEqual(["a/w1", "b/w1"]);
    expect(r.totalMatches).toBe(4);
    expect((await client.findWorkers({ limit: 5000 })).matches).toHaveLength(5);
  });
});

describe("FindDevices", () => {
  it("finds GPUs with room, by every filter and order", async () => {
    const room = await client.findDevices({ minFreeVramBytes: 30n * GiB });
    expect(devs(room)).toEqual(["a/0", "b/0"]);
    expect(room.matches[0].freeVramBytes).toBe(70n * GiB);
    expect(room.matches[0].workerIds).toEqual(["w1", "w2", "w4"]);
    expect(devs(await client.findDevices({ order: DeviceOrder.MOST_FREE_VRAM, includeDegraded: true }))).toEqual(["c/0", "a/0", "b/0", "a/1"]);
    expect(devs(await client.findDevices({ order: DeviceOrder.LEAST_UTILIZED }))).toEqual(["a/0", "b/0", "a/1"]);
    expect(devs(await client.findDevices({ maxUtilizationPct: 50 }))).toEqual(["a/0", "b/0"]);
    expect(devs(await client.findDevices({ hiveLabels: { zone: "us" } }))).toEqual(["b/0"]);
    expect(devs(await client.findDevices({ hiveIds: ["a"], limit: 1 }))).toEqual(["a/0"]);
    const limited = await client.findDevices({ limit: 1, order: DeviceOrder.MOST_FREE_VRAM });
    expect(limited.totalMatches).toBe(3);
  });
});

describe("GetHive and ListHives", () => {
  it("returns one hive with its workers, NOT_FOUND for an unknown one", async () => {
    const r = await client.getHive({ hiveId: "a" });
    expect(r.hive!.workers.map((w) => w.workerId)).toEqual(["w1", "w2", "w3", "w4"]);
    expect(r.hive!.devices).toHaveLength(2);
    expect(r.hive!.connected).toBe(true);
    expect(r.hive!.lastSeq).toBe(1n);
    const err = await client.getHive({ hiveId: "zzz" }).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.NotFound);
  });

  it("lists every hive ordered by id, filtered by labels", async () => {
    const all = await client.listHives({});
    expect(all.hives.map((h) => h.info!.hiveId)).toEqual(["a", "b", "c"]);
    expect(all.hives[2].health).toBe(HiveHealth.DEGRADED);
    expect(all.hives[2].connected).toBe(false);
    const eu = await client.listHives({ hiveLabels: { zone: "eu" }, omitWorkers: true });
    expect(eu.hives.map((h) => h.info!.hiveId)).toEqual(["a", "c"]);
    expect(eu.hives[0].workers).toEqual([]);
  });
});
