import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreUnavailableError, type ClusterChange } from "../../src/queen/cluster/cluster-store.js";
import { EtcdClusterStore } from "../../src/queen/cluster/etcd-cluster-store.js";
import { startEtcd, type EtcdCluster } from "../helpers/etcd.js";
import { waitFor } from "../helpers/wait.js";
import { hive, member } from "../queen/cluster/cluster-store-contract.js";

let etcd: EtcdCluster;

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});

describe("EtcdClusterStore through an etcd outage", () => {
  it("answers StoreUnavailableError while etcd is gone, and its watch resumes without loss or repeat when etcd is back", async () => {
    const store = new EtcdClusterStore(etcd.client({ retryBudgetMs: 500, pingIntervalMs: 300, pingTimeoutMs: 300 }));
    const writer = new EtcdClusterStore(etcd.client());
    const a = await writer.openSession(member("qa"), 10_000);
    const start = (await store.list()).revision;
    const seen: { revision: number; keys: string[] }[] = [];
    const w = store.watch(start, {
      onChanges: (revision, cs: readonly ClusterChange[]) => seen.push({ revision, keys: cs.map((c) => `${c.kind}:${c.kind === "queen" ? c.queenId : c.hiveId}`) }),
      onError: (err) => seen.push({ revision: -1, keys: [err.message] }),
    });
    const first = await a.claimHive(hive("h1"), 0);
    await waitFor(() => seen.length >= 1, "the claim");
    await etcd.killAll();
    await expect(store.list()).rejects.toBeInstanceOf(StoreUnavailableError);
    await etcd.restartAll();
    const second = await a.updateHive(hive("h1", 2));
    await waitFor(() => seen.length >= 2, "the update after etcd came back");
    expect(seen).toEqual([
      { revision: first.ok && first.revision, keys: ["hive:h1", "owner:h1"] },
      { revision: second.ok && second.revision, keys: ["hive:h1"] },
    ]);
    // An outage shorter than the TTL keeps the session: etcd renews leases when its leader comes back.
    expect(a.lost.aborted).toBe(false);
    w.close();
    await a.close();
    await store.close();
    await writer.close();
  });
});
