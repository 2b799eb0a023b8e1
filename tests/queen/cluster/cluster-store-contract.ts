import { create } from "@bufbuild/protobuf";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import { HiveInfoSchema } from "../../../gen/apiary/v1/telemetry_pb.js";
import {
  StoreCompactedError,
  type ClusterChange,
  type ClusterStore,
  type HiveMembership,
  type QueenMember,
  type QueenSession,
} from "../../../src/queen/cluster/cluster-store.js";
import { waitFor } from "../../helpers/wait.js";

/** What a store implementation gives the contract suite. */
export interface ContractHarness {
  store: ClusterStore;
  /** A second store on the same data (another queen's process). */
  peer(): Promise<ClusterStore>;
  /** Ends the session's lease as its expiry would (keys deleted, `lost` aborted). */
  expire(session: QueenSession): Promise<void>;
  /** Compacts the store's history before `revision`. */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}

export const TTL_MS = 2_000;

export function member(queenId: string): QueenMember {
  return { queenId, advertiseUrl: `http://127.0.0.1:1/${queenId}`, epoch: `epoch-${queenId}`, startedAtWallMs: 1_700_000_000_000 };
}

export function hive(hiveId: string, health = HiveHealth.HEALTHY, incarnation = "inc-1"): HiveMembership {
  return {
    hiveId,
    info: create(HiveInfoSchema, { hiveId, hostname: `${hiveId}.local`, endpoint: "http://10.0.0.5:7835", labels: { zone: "a" }, cpuCores: 8 }),
    incarnation,
    health,
    connected: true,
    changedAtWallMs: 1_700_000_000_123,
  };
}

interface Seen {
  revision: number;
  changes: readonly ClusterChange[];
}

function recorder() {
  const seen: Seen[] = [];
  const errors: Error[] = [];
  return {
    seen,
    errors,
    handlers: {
      onChanges: (revision: number, changes: readonly ClusterChange[]) => seen.push({ revision, changes }),
      onError: (err: Error) => errors.push(err),
    },
    summary: () => seen.map((s) => ({ revision: s.revision, keys: s.changes.map((c) => `${c.kind}/${c.kind === "queen" ? c.queenId : c.hiveId}:${c.value === undefined ? "del" : "put"}`) })),
  };
}

export function defineClusterStoreContract(name: string, makeHarness: () => Promise<ContractHarness>): void {
  describe(`ClusterStore contract: ${name}`, () => {
    let h: ContractHarness;
    beforeEach(async () => {
      h = await makeHarness();
    });
    afterEach(async () => {
      await h.close();
    });

    it("lists everything at one revision", async () => {
      const a = await h.store.openSession(member("qa"), TTL_MS);
      const claimed = await a.claimHive(hive("h1"), 0);
      expect(claimed.ok).toBe(true);
      const snap = await h.store.list();
      expect(snap.revision).toBeGreaterThanOrEqual(claimed.ok ? claimed.revision : 0);
      expect(snap.queens.get("qa")?.value).toEqual(member("qa"));
      expect(snap.owners.get("h1")?.value).toBe("qa");
      expect(snap.hives.get("h1")?.value).toEqual(hive("h1"));
      expect(snap.hives.get("h1")?.modRevision).toBe(claimed.ok && claimed.revision);
      expect(snap.owners.get("h1")?.modRevision).toBe(claimed.ok && claimed.revision);
      await a.close();
    });

    it("watch from a revision delivers every later change in order, transaction by transaction", async () => {
      const a = await h.store.openSession(member("qa"), TTL_MS);
      const start = (await h.store.list()).revision;
      const rec = recorder();
      const w = h.store.watch(start, rec.handlers);
      const r1 = await a.claimHive(hive("h1"), 0);
      const r2 = await a.updateHive(hive("h1", HiveHealth.DEGRADED));
      const r3 = await a.removeHive("h1");
      const revs = [r1, r2, r3].map((r) => (r.ok ? r.revision : -1));
      await waitFor(() => rec.seen.length >= 3, "three transactions");
      expect(rec.summary()).toEqual([
        { revision: revs[0], keys: ["hive/h1:put", "owner/h1:put"] },
        { revision: revs[1], keys: ["hive/h1:put"] },
        { revision: revs[2], keys: ["hive/h1:del", "owner/h1:del"] },
      ]);
      const owner = rec.seen[0]!.changes.find((c) => c.kind === "owner");
      expect(owner?.value).toBe("qa");
      const degraded = rec.seen[1]!.changes[0];
      expect(degraded?.kind === "hive" && degraded.value?.health).toBe(HiveHealth.DEGRADED);
      // A later watch from the same point replays the same history.
      const replay = recorder();
      const w2 = h.store.watch(start, replay.handlers);
      await waitFor(() => replay.seen.length >= 3, "replayed transactions");
      expect(replay.summary()).toEqual(rec.summary());
      expect(rec.errors).toEqual([]);
      w.close();
      w2.close();
      await a.close();
    });

    it("claimHive: absent, as expected, changed meanwhile (the conflict names the current owner)", async () => {
      const a = await h.store.openSession(member("qa"), TTL_MS);
      const b = await h.store.openSession(member("qb"), TTL_MS);
      const first = await a.claimHive(hive("h1"), 0);
      expect(first.ok).toBe(true);
      const rev = first.ok ? first.revision : 0;
      // b saw the owner key absent: its claim loses and learns who owns it.
      const stale = await b.claimHive(hive("h1"), 0);
      expect(stale.ok).toBe(false);
      expect(!stale.ok && stale.currentOwner).toEqual({ value: "qa", modRevision: rev });
      expect(!stale.ok && stale.currentHive?.value).toEqual(hive("h1"));
      // With the owner key as it is now, b takes the hive over.
      const takeover = await b.claimHive(hive("h1", HiveHealth.HEALTHY, "inc-2"), rev);
      expect(takeover.ok).toBe(true);
      const snap = await h.store.list();
      expect(snap.owners.get("h1")?.value).toBe("qb");
      // a's fenced writes no longer pass.
      const late = await a.updateHive(hive("h1", HiveHealth.DOWN));
      expect(late.ok).toBe(false);
      expect(!late.ok && late.currentOwner?.value).toBe("qb");
      expect((await a.removeHive("h1")).ok).toBe(false);
      expect((await h.store.list()).hives.get("h1")?.value.incarnation).toBe("inc-2");
      await a.close();
      await b.close();
    });

    it("fenced writes fail for a queen whose lease expired; expiry deletes its keys and aborts lost", async () => {
      const a = await h.store.openSession(member("qa"), TTL_MS);
      const b = await h.store.openSession(member("qb"), TTL_MS);
      expect((await a.claimHive(hive("h1"), 0)).ok).toBe(true);
      expect((await a.claimHive(hive("h2"), 0)).ok).toBe(true);
      const start = (await h.store.list()).revision;
      const rec = recorder();
      const w = h.store.watch(start, rec.handlers);
      await h.expire(a);
      await waitFor(() => a.lost.aborted, "lost aborted");
      await waitFor(() => rec.seen.length >= 1, "the expiry's transaction");
      expect(rec.summary()[0]!.keys).toEqual(["owner/h1:del", "owner/h2:del", "queen/qa:del"]);
      const snap = await h.store.list();
      expect(snap.queens.has("qa")).toBe(false);
      expect(snap.queens.has("qb")).toBe(true);
      expect(snap.owners.size).toBe(0);
      expect(snap.hives.size).toBe(2);
      const update = await a.updateHive(hive("h1", HiveHealth.DOWN));
      expect(update.ok).toBe(false);
      expect(!update.ok && update.currentOwner).toBeUndefined();
      expect((await a.removeHive("h2")).ok).toBe(false);
      expect((await h.store.list()).hives.size).toBe(2);
      w.close();
      await b.close();
    });

    it("writeOrphan succeeds only with no owner and the expected modRevision; one of two racing writers wins", async () => {
      const a = await h.store.openSession(member("qa"), TTL_MS);
      const claimed = await a.claimHive(hive("h1"), 0);
      const rev = claimed.ok ? claimed.revision : 0;
      const owned = await h.store.writeOrphan("h1", rev, hive("h1", HiveHealth.DOWN));
      expect(owned.ok).toBe(false);
      expect(!owned.ok && owned.currentOwner?.value).toBe("qa");
      await h.expire(a);
      const peer = await h.peer();
      const wrong = await h.store.writeOrphan("h1", rev - 1, hive("h1", HiveHealth.DOWN));
      expect(wrong.ok).toBe(false);
      const race = await Promise.all([
        h.store.writeOrphan("h1", rev, hive("h1", HiveHealth.DOWN, "by-one")),
        peer.writeOrphan("h1", rev, hive("h1", HiveHealth.DOWN, "by-two")),
      ]);
      expect(race.filter((r) => r.ok)).toHaveLength(1);
      const loser = race.find((r) => !r.ok);
      const snap = await h.store.list();
      const winner = snap.hives.get("h1")!;
      expect(winner.value.health).toBe(HiveHealth.DOWN);
      expect(loser && !loser.ok && loser.currentHive).toEqual(winner);
      // Eviction: delete with the current modRevision.
      const evicted = await peer.writeOrphan("h1", winner.modRevision, undefined);
      expect(evicted.ok).toBe(true);
      expect((await h.store.list()).hives.has("h1")).toBe(false);
      await peer.close();
    });

    it("watch from below the compact revision reports StoreCompactedError", async () => {
      const a = await h.store.openSession(member("qa"), TTL_MS);
      const start = (await h.store.list()).revision;
      await a.claimHive(hive("h1"), 0);
      await a.updateHive(hive("h1", HiveHealth.DEGRADED));
      const last = await a.updateHive(hive("h1", HiveHealth.HEALTHY));
      const lastRev = last.ok ? last.revision : 0;
      await h.compact(lastRev);
      const rec = recorder();
      h.store.watch(start, rec.handlers);
      const err = await waitFor(() => rec.errors[0], "the compaction error");
      expect(err).toBeInstanceOf(StoreCompactedError);
      expect((err as StoreCompactedError).compactRevision).toBe(lastRev);
      expect(rec.seen).toEqual([]);
      // From the compact revision on, the watch works.
      const ok = recorder();
      const w = h.store.watch(lastRev - 1, ok.handlers);
      await waitFor(() => ok.seen.length >= 1, "the change at the compact revision");
      expect(ok.seen[0]!.revision).toBe(lastRev);
      expect(ok.errors).toEqual([]);
      w.close();
      await a.close();
    });

    it("session.close revokes: the queen key and its owner keys go at once", async () => {
      const a = await h.store.openSession(member("qa"), TTL_MS);
      await a.claimHive(hive("h1"), 0);
      const start = (await h.store.list()).revision;
      const rec = recorder();
      const w = h.store.watch(start, rec.handlers);
      await a.close();
      await waitFor(() => rec.seen.length >= 1, "the revoke's transaction");
      expect(rec.summary()).toEqual([{ revision: start + 1, keys: ["owner/h1:del", "queen/qa:del"] }]);
      const snap = await h.store.list();
      expect(snap.queens.size).toBe(0);
      expect(snap.owners.size).toBe(0);
      expect(snap.hives.has("h1")).toBe(true);
      w.close();
    });
  });
}
