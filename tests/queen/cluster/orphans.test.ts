import { afterEach, describe, expect, it } from "vitest";
import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import type { ClusterChange } from "../../../src/queen/cluster/cluster-store.js";
import { makeHiveInfo } from "../helpers/telemetry-builders.js";
import { waitUntil } from "../../helpers/wait.js";
import { TestHive } from "../helpers/test-hive.js";
import { TestCluster } from "./helpers/cluster-fixture.js";

let cluster: TestCluster;
const hives: TestHive[] = [];

afterEach(async () => {
  for (const h of hives.splice(0)) h.abort();
  await cluster?.close();
});

const fast = { healthyMs: 200, degradedMs: 400, evictAfterMs: 400, sweepIntervalMs: 50 };

describe("several queens: orphans and the store watch", () => {
  it("an orphan is marked DOWN, then evicted, by exactly one queen's write; every queen sees it REMOVED", async () => {
    cluster = new TestCluster(undefined, fast);
    const a = await cluster.start("a");
    await cluster.start("b");
    await cluster.start("c");
    const hive = await TestHive.connect(a.url, "h1");
    hives.push(hive);
    await hive.reportSynthetic({ workers: 2, gpus: 1 });
    for (const id of ["b", "c"]) await waitUntil(() => cluster.queen(id).registry.hive("h1") !== undefined, `${id} to list h1`);

    const writes: ClusterChange[] = [];
    const watch = cluster.store.watch(cluster.store.revision, { onChanges: (_r, changes) => writes.push(...changes.filter((c) => c.kind === "hive")), onError: () => {} });
    cluster.store.partition("a");
    cluster.store.expireLease("a");
    for (const id of ["a", "b", "c"]) await waitUntil(() => cluster.removedOn(id, "h1"), `h1 REMOVED on ${id}`);
    watch.close();
    // One DOWN write, one delete: the compares let exactly one queen win each.
    expect(writes.map((c) => (c.kind === "hive" && c.value ? HiveHealth[c.value.health] : "deleted"))).toEqual(["DOWN", "deleted"]);
    for (const id of ["b", "c"]) {
      const downs = cluster.events.get(id)!.filter((e) => e.kind === "hive" && e.hiveId === "h1" && e.hive.health === HiveHealth.DOWN);
      expect(downs.length).toBeGreaterThan(0);
      expect(cluster.queen(id).registry.hive("h1")).toBeUndefined();
    }
  });

  it("a hive that reconnects while orphaned is claimed again and stops being an orphan", async () => {
    cluster = new TestCluster(undefined, { ...fast, degradedMs: 2_000, evictAfterMs: 2_000 });
    const a = await cluster.start("a");
    const b = await cluster.start("b");
    hives.push(await TestHive.connect(a.url, "h1"));
    await waitUntil(() => b.registry.hive("h1") !== undefined, "b to list h1");
    cluster.store.partition("a");
    cluster.store.expireLease("a");
    await waitUntil(() => b.cluster!.orphans.count() === 1, "b to see h1 orphaned");
    hives.push(await TestHive.connect(b.url, "h1", { incarnation: "i2" }));
    expect(b.cluster!.orphans.count()).toBe(0);
    expect((await cluster.store.list()).owners.get("h1")?.value).toBe("b");
    expect(cluster.downEvents("h1")).toEqual([]);
  });

  it("a compacted store watch lists again and reconciles: what the store lost is REMOVED", async () => {
    cluster = new TestCluster();
    const b = await cluster.start("b");
    const other = await cluster.store.openSession({ queenId: "x", advertiseUrl: "http://x", epoch: "e", startedAtWallMs: 0 }, 5_000);
    const m = { hiveId: "h2", info: makeHiveInfo("h2"), incarnation: "i", health: HiveHealth.HEALTHY, connected: true, changedAtWallMs: 0 };
    expect((await other.claimHive(m, 0)).ok).toBe(true);
    await waitUntil(() => b.registry.hive("h2") !== undefined, "b to list h2");
    // The delete and the compaction land before b's watch sees the delete.
    const removed = other.removeHive("h2");
    cluster.store.compact(cluster.store.revision);
    await removed;
    await waitUntil(() => b.registry.hive("h2") === undefined, "b to drop h2 after relisting");
    expect(cluster.removedOn("b", "h2")).toBe(true);
    expect(b.cluster!.isUp).toBe(true);
    await other.close();
  });
});
