import { describe, expect, it } from "vitest";
import { MemoryClusterStore, SessionLeaseGoneError } from "../../../src/queen/cluster/memory-cluster-store.js";
import type { ClusterStore } from "../../../src/queen/cluster/cluster-store.js";
import { waitFor } from "../../helpers/wait.js";
import { defineClusterStoreContract, hive, member, TTL_MS } from "./cluster-store-contract.js";

defineClusterStoreContract("memory", async () => {
  const store = new MemoryClusterStore({ sweepEveryMs: 0 });
  // Another queen's view of the same store: shares the data, its close() leaves the store open.
  const peer = async (): Promise<ClusterStore> => ({
    openSession: (m, ttl) => store.openSession(m, ttl),
    list: () => store.list(),
    watch: (after, handlers) => store.watch(after, handlers),
    writeOrphan: (id, rev, value) => store.writeOrphan(id, rev, value),
    close: async () => {},
  });
  return {
    store,
    peer,
    expire: async (session) => store.expireLease(session.queenId),
    compact: async (revision) => store.compact(revision),
    close: () => store.close(),
  };
});

describe("MemoryClusterStore", () => {
  it("expires a lease when its TTL runs out on the injected clock, and keep-alives hold it", async () => {
    let now = 0;
    const store = new MemoryClusterStore({ now: () => now, sweepEveryMs: 0 });
    const a = await store.openSession(member("qa"), TTL_MS);
    await a.claimHive(hive("h1"), 0);
    now = TTL_MS - 1;
    store.expireDue();
    expect(a.lost.aborted).toBe(false);
    // The keep-alive (every TTL/3 on real timers) moves the expiry to now + TTL.
    await waitFor(() => store.keepAliveCount("qa") > 0, "a keep-alive");
    now = 2 * TTL_MS - 2;
    store.expireDue();
    expect(a.lost.aborted).toBe(false);
    store.partition("qa");
    await expect(a.updateHive(hive("h1"))).rejects.toThrow(/cannot reach the store/);
    now = 10 * TTL_MS;
    store.expireDue();
    expect(a.lost.aborted).toBe(true);
    store.heal("qa");
    const snap = await store.list();
    expect(snap.queens.size + snap.owners.size).toBe(0);
    await expect(a.claimHive(hive("h2"), 0)).rejects.toBeInstanceOf(SessionLeaseGoneError);
    await store.close();
  });

  it("bounds its history: watching from before the kept transactions reports the compaction", async () => {
    const store = new MemoryClusterStore({ historyLimit: 2, sweepEveryMs: 0 });
    const a = await store.openSession(member("qa"), TTL_MS);
    for (let i = 0; i < 5; i++) await a.claimHive(hive(`h${i}`), 0);
    expect(store.compactRevision).toBe(store.revision - 1);
    const errors: Error[] = [];
    store.watch(0, { onChanges: () => {}, onError: (e) => errors.push(e) });
    await waitFor(() => errors.length > 0, "the compaction error");
    expect(errors[0]?.name).toBe("StoreCompactedError");
    await store.close();
  });

  it("delivers a watch asynchronously, never inside the write", async () => {
    const store = new MemoryClusterStore({ sweepEveryMs: 0 });
    const a = await store.openSession(member("qa"), TTL_MS);
    const seen: number[] = [];
    store.watch(store.revision, { onChanges: (rev) => seen.push(rev), onError: () => {} });
    const write = a.claimHive(hive("h1"), 0);
    expect(seen).toEqual([]);
    const out = await write;
    await waitFor(() => seen.length === 1, "the delivery");
    expect(seen).toEqual([out.ok && out.revision]);
    await store.close();
  });
});
