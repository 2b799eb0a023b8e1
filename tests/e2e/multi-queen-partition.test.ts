import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as ServingStatus, Health } from "../../gen/grpc/health/v1/health_pb.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";
import { waitUntil } from "../helpers/wait.js";
import { TestHive } from "../queen/helpers/test-hive.js";
import { ApiaryProcess } from "./helpers/apiary-process.js";
import { LEASE_TTL_MS, MultiQueenCluster, type HiveProcess, type QueenProcess } from "./helpers/multi-queen-cluster.js";

async function storeHealth(queen: QueenProcess): Promise<ServingStatus | undefined> {
  const health = createClient(Health, createApiaryTransport(queen.url));
  return (await health.check({ service: "apiary.v1.ClusterStore" }, { timeoutMs: 2000 }).catch(() => undefined))?.status;
}

async function owners(queen: QueenProcess, hives: HiveProcess[]): Promise<string[]> {
  const { hives: listed } = await queen.client.listHives({ omitWorkers: true }, { timeoutMs: 2000 });
  return hives.map((h) => {
    const status = listed.find((s) => s.info?.hiveId === h.id);
    return status?.connected ? status.ownerQueenId : "-";
  });
}

describe("two queens on one etcd: one partitioned from it, later frozen and killed", () => {
  const cluster = new MultiQueenCluster();
  let proxy: TcpProxy;
  let direct: QueenProcess;
  let cutOff: QueenProcess;
  let hives: HiveProcess[] = [];

  beforeAll(async () => {
    await cluster.startEtcd(1);
    proxy = await TcpProxy.start(cluster.etcd.endpoints[0]);
    direct = await cluster.startQueen("qd");
    cutOff = await cluster.startQueen("qp", [proxy.url()]);
    // Every hive starts on the queen that will be cut off.
    hives = await Promise.all(["p1", "p2"].map((name) => cluster.startHive(name, `${cutOff.url},${direct.url}`)));
    await waitUntil(async () => (await owners(direct, hives)).every((o) => o === "qp"), "both hives held by qp, as qd lists them", 20_000, 100);
  }, 60_000);
  afterAll(async () => {
    await cluster.cleanup();
    await proxy?.close();
  }, 60_000);

  it("stops holding its hives within its lease TTL (they move), refuses hellos and says NOT_SERVING; its hives stay moved when it is back", async () => {
    const cutAt = performance.now();
    proxy.cut("blackhole");
    await waitUntil(async () => (await owners(direct, hives)).every((o) => o === "qd"), "both hives moved to qd", 15_000, 100);
    const movedMs = performance.now() - cutAt;
    console.log(`multi-queen: hives moved off a partitioned queen ${movedMs.toFixed(0)} ms after the cut (lease TTL ${LEASE_TTL_MS} ms)`);
    expect(await storeHealth(cutOff)).toBe(ServingStatus.NOT_SERVING);
    const refused = await TestHive.connect(cutOff.url, "probe-hive").then(
      (h) => (h.abort(), undefined),
      (e: unknown) => ConnectError.from(e),
    );
    expect(refused?.code).toBe(Code.Unavailable);
    expect(refused?.rawMessage).toMatch(/lease/);
    // Reads still answer from its cache.
    expect((await cutOff.client.listHives({ omitWorkers: true }, { timeoutMs: 2000 })).hives.length).toBeGreaterThanOrEqual(hives.length);

    proxy.restore();
    await waitUntil(async () => (await storeHealth(cutOff)) === ServingStatus.SERVING, "qp SERVING again", 20_000, 100);
    await waitUntil(async () => (await owners(cutOff, hives)).every((o) => o === "qd"), "qp lists the hives held by qd", 10_000, 100);
    expect(await owners(direct, hives)).toEqual(["qd", "qd"]);
  });

  it("`apiary watch` on a queen that dies resumes on the next and prints the REMOVED of a hive evicted meanwhile", async () => {
    const watch = ApiaryProcess.start(["watch", "--queen", `${cutOff.url},${direct.url}`, "--kind", "hive", "-o", "name"]);
    try {
      for (const h of hives) await watch.waitFor(new RegExp(`ADDED hive/${h.id}\n`));
      // qp freezes (its watchers hear nothing), p1 leaves (qd evicts it), then qp dies.
      cutOff.process.signal("SIGSTOP");
      await hives[0].process.stop(15_000);
      await waitUntil(async () => (await owners(direct, [hives[0]]))[0] === "-", "p1 gone at qd", 10_000, 100);
      cutOff.process.signal("SIGKILL");
      await watch.waitFor(new RegExp(`REMOVED hive/${hives[0].id}\n`));
      expect(watch.stderr).toContain(`resuming on ${direct.url}`);
      expect(watch.stdout).not.toMatch(new RegExp(`REMOVED hive/${hives[1].id}`));
    } finally {
      await watch.stop(5_000);
    }
  });
});
