import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EtcdClusterStore } from "../../../src/queen/cluster/etcd-cluster-store.js";
import type { QueenSession } from "../../../src/queen/cluster/cluster-store.js";
import type { EtcdClient } from "../../../src/etcd/etcd-client.js";
import { startEtcd, type EtcdCluster } from "../../helpers/etcd.js";
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
});
