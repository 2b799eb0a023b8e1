import { afterEach, describe, expect, it } from "vitest";
import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../../gen/grpc/health/v1/health_pb.js";
import { createClient } from "@connectrpc/connect";
import { CLUSTER_HEALTH_SERVICE } from "../../../src/queen/cluster/cluster-node.js";
import { StoreUnavailableError, type ClusterStore, type ClusterWatchHandlers } from "../../../src/queen/cluster/cluster-store.js";
import { MemoryClusterStore } from "../../../src/queen/cluster/memory-cluster-store.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { makeHiveInfo } from "../helpers/telemetry-builders.js";
import { waitUntil } from "../../helpers/wait.js";
import { TestCluster } from "./helpers/cluster-fixture.js";

/** One queen's view of a shared store that can go unreachable: lists fail and its watches end. */
class FlakyStore implements ClusterStore {
  down = false;
  private readonly watches = new Set<ClusterWatchHandlers>();
  constructor(private readonly inner: MemoryClusterStore) {}

  openSession: ClusterStore["openSession"] = (m, ttl) => this.inner.openSession(m, ttl);
  writeOrphan: ClusterStore["writeOrphan"] = (h, r, v) => this.inner.writeOrphan(h, r, v);
  close = async () => {};

  async list() {
    if (this.down) throw new StoreUnavailableError("store unreachable (test)");
    return this.inner.list();
  }

  watch(after: number, handlers: ClusterWatchHandlers) {
    const inner = this.inner.watch(after, handlers);
    this.watches.add(handlers);
    return {
      close: () => {
        this.watches.delete(handlers);
        inner.close();
      },
    };
  }

  cut(): void {
    this.down = true;
    for (const h of [...this.watches]) h.onError(new StoreUnavailableError("store unreachable (test)"));
  }
}

let cluster: TestCluster;
afterEach(async () => {
  await cluster?.close();
});

describe("several queens: the store unreachable", () => {
  it("a queen closes although its lease revoke never answers (the lease then expires by itself)", async () => {
    cluster = new TestCluster();
    const inner = cluster.store;
    const hanging: ClusterStore = {
      openSession: async (m, ttl) => {
        const session = await inner.openSession(m, ttl);
        return Object.assign(Object.create(session) as typeof session, { close: () => new Promise<void>(() => {}) });
      },
      list: () => inner.list(),
      watch: (after, handlers) => inner.watch(after, handlers),
      writeOrphan: (h, r, v) => inner.writeOrphan(h, r, v),
      close: async () => {},
    };
    const q = await cluster.start("q", { clusterStore: hanging });
    cluster.queens.delete("q");
    await q.close();
    expect(q.cluster!.isUp).toBe(false);
  });

  it("keeps the cache frozen and serving, says so in health, and reconciles when the store is back", async () => {
    cluster = new TestCluster();
    const flaky = new FlakyStore(cluster.store);
    const b = await cluster.start("b", { clusterStore: flaky, degradedMs: 300, evictAfterMs: 300, healthyMs: 100, sweepIntervalMs: 50 });
    const health = createClient(Health, createApiaryTransport(b.url));
    const other = await cluster.store.openSession({ queenId: "x", advertiseUrl: "http://127.0.0.1:1", epoch: "e", startedAtWallMs: 0 }, 60_000);
    const m = (id: string) => ({ hiveId: id, info: makeHiveInfo(id), incarnation: "i", health: HiveHealth.HEALTHY, connected: true, changedAtWallMs: 0 });
    expect((await other.claimHive(m("stays"), 0)).ok).toBe(true);
    expect((await other.claimHive(m("goes"), 0)).ok).toBe(true);
    await waitUntil(() => b.registry.hiveCount() === 2, "b to list both hives");

    flaky.cut();
    await waitUntil(async () => (await health.check({ service: CLUSTER_HEALTH_SERVICE })).status === ServingStatus.NOT_SERVING, "ClusterStore NOT_SERVING");
    expect((await health.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    expect((await other.removeHive("goes")).ok).toBe(true);
    // Revoked owner: an orphan, but b sees nothing while cut off, and judges nothing.
    await other.close();
    expect(b.registry.hiveCount()).toBe(2);
    expect(b.cluster!.orphans.count()).toBe(0);

    flaky.down = false;
    await waitUntil(async () => (await health.check({ service: CLUSTER_HEALTH_SERVICE })).status === ServingStatus.SERVING, "ClusterStore SERVING again", 15_000);
    await waitUntil(() => b.registry.hive("goes") === undefined, "b to drop the hive removed meanwhile");
    expect(b.registry.hive("stays")).toBeDefined();
    // Back on the store: the hive its owner left is an orphan now, judged and evicted.
    await waitUntil(() => b.registry.hive("stays") === undefined, "the orphan to be evicted", 15_000);
  });
});
