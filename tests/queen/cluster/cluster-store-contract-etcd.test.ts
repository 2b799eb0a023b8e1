import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EtcdClusterStore } from "../../../src/queen/cluster/etcd-cluster-store.js";
import type { QueenSession } from "../../../src/queen/cluster/cluster-store.js";
import type { EtcdClient } from "../../../src/etcd/etcd-client.js";
import type { ClusterChange } from "../../../src/queen/cluster/cluster-store.js";
import { startEtcd, type EtcdCluster } from "../../helpers/etcd.js";
import { TcpProxy } from "../../helpers/tcp-proxy.js";
import { waitFor } from "../../helpers/wait.js";
import { defineClusterStoreContract, hive, member } from "./cluster-store-contract.js";

let etcd: EtcdCluster;
let admin: EtcdClient;
let run = 0;

beforeAll(async () => {
  etcd = await startEtcd();
  admin = etcd.client();
});
afterAll(async () => {
  await etcd?.stop();
});

function leaseOf(session: QueenSession): bigint {
  return (session as unknown as { leaseId: bigint }).leaseId;
}

defineClusterStoreContract("etcd", async () => {
  // One etcd for the file; each test its own prefix.
  const prefix = `/apiary-contract-${++run}/`;
  const stores: EtcdClusterStore[] = [];
  const open = (): EtcdClusterStore => {
    const s = new EtcdClusterStore(etcd.client(), { prefix });
    stores.push(s);
    return s;
  };
  return {
    store: open(),
    peer: async () => open(),
    expire: async (session) => admin.leaseRevoke(leaseOf(session)),
    compact: (revision) => admin.compact(revision),
    close: async () => {
      await Promise.all(stores.map((s) => s.close()));
    },
  };
});

describe("EtcdClusterStore on etcd", () => {
  it("stores readable protobuf JSON and counts its writes", async () => {
    const store = new EtcdClusterStore(etcd.client(), { prefix: "/apiary-json/" });
    const before = { ...store.counters };
    const a = await store.openSession(member("qa"), 2_000);
    await a.claimHive(hive("h1"), 0);
    const raw = await admin.range("/apiary-json/hives/h1");
    const json = JSON.parse(new TextDecoder().decode(raw.kvs[0]!.value)) as Record<string, unknown>;
    expect(json).toMatchObject({ incarnation: "inc-1", health: "HIVE_HEALTH_HEALTHY", connected: true, info: { hiveId: "h1" } });
    expect(store.counters.kvWrites - before.kvWrites).toBe(2); // queen key, claim
    await waitFor(() => store.counters.keepAlives > before.keepAlives, "a keep-alive");
    await a.close();
    await store.close();
  });

  it("the session's lost aborts on its own when the lease expires at etcd", async () => {
    const store = new EtcdClusterStore(etcd.client(), { prefix: "/apiary-expiry/" });
    const a = await store.openSession(member("qa"), 2_000);
    await admin.leaseRevoke(leaseOf(a));
    await waitFor(() => a.lost.aborted, "lost after the lease went");
    expect(String((a.lost.reason as Error).message)).toMatch(/expired|deadline/);
    await store.close();
  });

  it("a partitioned queen gives up by its local deadline; etcd expires its lease and another queen takes its hive; the fence refuses the old one", async () => {
    const proxy = await TcpProxy.start(etcd.endpoints[0]!);
    const prefix = "/apiary-partition/";
    const cutOff = new EtcdClusterStore(etcd.client({ endpoints: [proxy.url()], pingIntervalMs: 300, pingTimeoutMs: 300, retryBudgetMs: 3_000 }), { prefix });
    const other = new EtcdClusterStore(etcd.client(), { prefix });
    try {
      const a = await cutOff.openSession(member("qa"), 2_000);
      const b = await other.openSession(member("qb"), 2_000);
      expect((await a.claimHive(hive("h1"), 0)).ok).toBe(true);
      const seen: ClusterChange[] = [];
      const w = other.watch((await other.list()).revision, { onChanges: (_rev, cs) => seen.push(...cs), onError: () => {} });
      proxy.cut("blackhole");
      await waitFor(() => a.lost.aborted, "qa to give its lease up", 5_000);
      const ownerGone = () => seen.some((c) => c.kind === "owner" && c.hiveId === "h1" && c.value === undefined);
      // At that moment etcd still has qa's owner key: the cut-off queen stopped first.
      expect(ownerGone()).toBe(false);
      await waitFor(ownerGone, "etcd to expire qa's lease", 5_000);
      expect(seen.some((c) => c.kind === "queen" && c.queenId === "qa" && c.value === undefined)).toBe(true);
      expect((await b.claimHive(hive("h1", 1, "inc-2"), 0)).ok).toBe(true);
      proxy.restore();
      const late = await a.updateHive(hive("h1", 3));
      expect(late.ok).toBe(false);
      expect(!late.ok && late.currentOwner?.value).toBe("qb");
      w.close();
      await b.close();
    } finally {
      await cutOff.close();
      await other.close();
      await proxy.close();
    }
  });
});
