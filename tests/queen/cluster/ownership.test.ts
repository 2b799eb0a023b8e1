import { createClient, Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../../gen/grpc/health/v1/health_pb.js";
import { CLUSTER_HEALTH_SERVICE } from "../../../src/queen/cluster/cluster-node.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { waitFor, waitUntil } from "../../helpers/wait.js";
import { TestHive } from "../helpers/test-hive.js";
import { TestCluster } from "./helpers/cluster-fixture.js";

let cluster: TestCluster;
const hives: TestHive[] = [];

afterEach(async () => {
  for (const h of hives.splice(0)) h.abort();
  await cluster?.close();
});

async function connect(url: string, hiveId: string, incarnation = "i1"): Promise<TestHive> {
  const hive = await TestHive.connect(url, hiveId, { incarnation });
  hives.push(hive);
  return hive;
}

async function streamError(hive: TestHive): Promise<ConnectError> {
  for (;;) {
    try {
      if ((await hive.next()).done) throw new Error("stream ended without an error");
    } catch (err) {
      return ConnectError.from(err);
    }
  }
}

describe("several queens: ownership", () => {
  it("a hello claims the hive in the store; every queen lists it with its owner", async () => {
    cluster = new TestCluster();
    const a = await cluster.start("a");
    const b = await cluster.start("b");
    await connect(a.url, "h1");
    expect((await cluster.store.list()).owners.get("h1")?.value).toBe("a");
    const seen = await waitFor(() => b.registry.hive("h1"), "b to list h1");
    expect(seen.remote).toBe(true);
    expect(b.registry.hiveStatus(seen, false).ownerQueenId).toBe("a");
    expect(a.registry.hiveStatus(a.registry.hive("h1")!, false).ownerQueenId).toBe("a");
    expect(a.registry.hive("h1")!.remote).toBe(false);
  });

  it("a hive moving from A to B is claimed by B, A's stream for it ends ABORTED, and nobody marks it DOWN", async () => {
    cluster = new TestCluster();
    const a = await cluster.start("a");
    const b = await cluster.start("b");
    const onA = await connect(a.url, "h1");
    await onA.reportSynthetic({ workers: 2, gpus: 1 });
    await waitUntil(() => b.registry.hive("h1") !== undefined, "b to list h1");
    const aborted = streamError(onA);
    await connect(b.url, "h1");
    expect((await cluster.store.list()).owners.get("h1")?.value).toBe("b");
    const err = await aborted;
    expect(err.code).toBe(Code.Aborted);
    expect(err.rawMessage).toContain("claimed by queen b");
    await waitUntil(() => a.registry.hive("h1")?.ownerQueenId === "b", "a to see b as the owner");
    expect(a.registry.hive("h1")!.remote).toBe(true);
    expect(b.registry.hive("h1")!.remote).toBe(false);
    expect(cluster.downEvents("h1")).toEqual([]);
  });

  it("a queen whose server closes abruptly: its hive reconnects to another queen, never DOWN meanwhile", async () => {
    cluster = new TestCluster();
    const a = await cluster.start("a", { shutdownGraceMs: 0 });
    const b = await cluster.start("b");
    const onA = await connect(a.url, "h1");
    await onA.reportSynthetic({ workers: 1, gpus: 1 });
    await waitUntil(() => b.registry.hive("h1") !== undefined, "b to list h1");
    await a.server.close();
    await connect(b.url, "h1");
    await waitUntil(() => b.registry.hive("h1")?.remote === false, "b to hold h1");
    expect((await cluster.store.list()).owners.get("h1")?.value).toBe("b");
    expect(b.registry.hive("h1")!.health).toBe(HiveHealth.HEALTHY);
    expect(cluster.downEvents("h1")).toEqual([]);
  });

  it("a stale write of the old owner is refused by the fence", async () => {
    cluster = new TestCluster();
    const a = await cluster.start("a");
    const b = await cluster.start("b");
    await connect(a.url, "h1");
    const sessionB = await cluster.store.openSession({ queenId: "x", advertiseUrl: "http://x", epoch: "e", startedAtWallMs: 0 }, 5_000);
    const before = await cluster.store.list();
    const m = before.hives.get("h1")!.value;
    // A claims nothing more; another queen claims h1 behind A's back, then A writes a transition.
    expect((await sessionB.claimHive({ ...m, changedAtWallMs: 1 }, before.owners.get("h1")!.modRevision)).ok).toBe(true);
    expect((await a.cluster!.session!.updateHive({ ...m, health: HiveHealth.DEGRADED })).ok).toBe(false);
    await waitUntil(() => a.registry.hive("h1")?.ownerQueenId === "x", "a to see the takeover");
    expect(b.registry.hive("h1")!.ownerQueenId).toBe("x");
    await sessionB.close();
  });

  it("lease loss: held streams end UNAVAILABLE, hellos are refused, health says NOT_SERVING, reads still answer", async () => {
    cluster = new TestCluster();
    const a = await cluster.start("a");
    const b = await cluster.start("b");
    const health = createClient(Health, createApiaryTransport(a.url));
    expect((await health.check({ service: CLUSTER_HEALTH_SERVICE })).status).toBe(ServingStatus.SERVING);
    const held = await connect(a.url, "h1");
    await held.reportSynthetic({ workers: 1, gpus: 1 });
    await waitUntil(() => b.registry.hive("h1") !== undefined, "b to list h1");

    const ended = streamError(held);
    cluster.store.partition("a");
    cluster.store.expireLease("a");
    const err = await ended;
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toContain("queen a lost its cluster lease");
    await waitUntil(async () => (await health.check({ service: CLUSTER_HEALTH_SERVICE })).status === ServingStatus.NOT_SERVING, "ClusterStore NOT_SERVING");
    expect((await health.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    expect((await health.check({ service: "apiary.v1.QueenService" })).status).toBe(ServingStatus.SERVING);
    const refused = await TestHive.connect(a.url, "h2").then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(refused?.code).toBe(Code.Unavailable);
    expect(refused?.rawMessage).toMatch(/queen a .*cluster/);
    const reads = createClient((await import("../../../gen/apiary/v1/queen_pb.js")).QueenService, createApiaryTransport(a.url));
    expect((await reads.getHive({ hiveId: "h1" })).hive?.info?.hiveId).toBe("h1");
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/^apiary_queen_cluster_store_up 0$/m);

    cluster.store.heal("a");
    await waitUntil(async () => (await health.check({ service: CLUSTER_HEALTH_SERVICE })).status === ServingStatus.SERVING, "ClusterStore SERVING again", 15_000);
    await connect(a.url, "h1", "i2");
    expect((await cluster.store.list()).owners.get("h1")?.value).toBe("a");
    expect(await (await fetch(`${a.url}/metrics`)).text()).toMatch(/^apiary_queen_cluster_store_up 1$/m);
  });

  it("steady reports write nothing to the store; transitions do", async () => {
    cluster = new TestCluster();
    const a = await cluster.start("a");
    const hive = await connect(a.url, "h1");
    const afterHello = cluster.store.revision;
    for (let i = 0; i < 20; i++) await hive.reportSynthetic({ workers: 2, gpus: 1 });
    expect(cluster.store.revision).toBe(afterHello);
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/^apiary_queen_cluster_store_writes_total\{kind="claim"\} 1$/m);
    expect(metrics).toMatch(/^apiary_queen_cluster_store_writes_total\{kind="update"\} 0$/m);
    expect(metrics).toMatch(/^apiary_queen_cluster_held_hives 1$/m);
    await hive.halfClose();
    await waitUntil(async () => (await cluster.store.list()).hives.get("h1")?.value.connected === false, "the broken stream written");
    expect((await cluster.store.list()).hives.get("h1")!.value.health).toBe(HiveHealth.DEGRADED);
  });

  it("a goodbye removes the hive from the store and from every queen", async () => {
    cluster = new TestCluster();
    const a = await cluster.start("a");
    const b = await cluster.start("b");
    const hive = await connect(a.url, "h1");
    await waitUntil(() => b.registry.hive("h1") !== undefined, "b to list h1");
    await hive.goodbye();
    await waitUntil(() => b.registry.hive("h1") === undefined, "b to forget h1");
    const list = await cluster.store.list();
    expect(list.hives.has("h1")).toBe(false);
    expect(list.owners.has("h1")).toBe(false);
  });
});
