import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Event } from "../../gen/etcd/mvcc/mvccpb/kv_pb.js";
import { EtcdWatch } from "../../src/etcd/etcd-watch.js";
import { text } from "../../src/etcd/key-range.js";
import { EtcdClusterStore } from "../../src/queen/cluster/etcd-cluster-store.js";
import { startEtcd, type EtcdCluster, type EtcdMember } from "../helpers/etcd.js";
import { waitFor } from "../helpers/wait.js";
import { hive, member } from "../queen/cluster/cluster-store-contract.js";

let etcd: EtcdCluster;

beforeAll(async () => {
  etcd = await startEtcd({ members: 3 });
});
afterAll(async () => {
  await etcd?.stop();
});

/** Endpoints with `first` in front, so a new client starts on it. */
function startingAt(first: EtcdMember): string[] {
  return [first.clientUrl, ...etcd.members.filter((m) => m !== first).map((m) => m.clientUrl)];
}

async function healthyAgain(m: EtcdMember): Promise<void> {
  await m.restart();
  await Promise.all(etcd.members.map((x) => x.waitHealthy()));
}

describe("etcd client on a 3-member cluster", () => {
  it("lists the members", async () => {
    const res = await etcd.client().memberList();
    expect(res.members.map((m) => m.name).sort()).toEqual(["m0", "m1", "m2"]);
  });

  it("fails over to another member when the one in use is killed, and a watch on it goes on without loss or repeat", async () => {
    const leader = await etcd.leader();
    const follower = etcd.members.find((m) => m !== leader)!;
    const client = etcd.client({ endpoints: startingAt(follower), pingIntervalMs: 300, pingTimeoutMs: 300 });
    const writer = etcd.client({ endpoints: startingAt(leader) });
    const start = Number((await client.range("/f1/")).header!.revision) + 1;
    const revs: number[] = [];
    const keys: string[] = [];
    const w = new EtcdWatch(client, { prefix: "/f1/", startRevision: start }, {
      onEvents: (rev: number, evs: readonly Event[]) => {
        revs.push(rev);
        keys.push(...evs.map((e) => text(e.kv!.key)));
      },
      onError: (err) => keys.push(`error: ${err.message}`),
    });
    const wanted: number[] = [];
    for (let i = 0; i < 3; i++) wanted.push(Number((await writer.put(`/f1/k${i}`, "x")).header!.revision));
    await waitFor(() => revs.length >= 3, "the first writes");
    expect(client.endpoint).toBe(follower.clientUrl);
    await follower.kill();
    for (let i = 3; i < 6; i++) wanted.push(Number((await writer.put(`/f1/k${i}`, "x")).header!.revision));
    const put = await client.put("/f1/k6", "from the failed-over client");
    wanted.push(Number(put.header!.revision));
    expect(client.endpoint).not.toBe(follower.clientUrl);
    expect(client.counters.failovers).toBeGreaterThanOrEqual(1);
    await waitFor(() => revs.length >= 7, "every write, through another member");
    try {
      expect(revs).toEqual(wanted);
      expect(keys).toEqual(["/f1/k0", "/f1/k1", "/f1/k2", "/f1/k3", "/f1/k4", "/f1/k5", "/f1/k6"]);
    } finally {
      w.close();
      await healthyAgain(follower);
    }
  });

  it("retries through a leader change (kill -9 of the leader) and the calls succeed", async () => {
    const leader = await etcd.leader();
    const client = etcd.client({ endpoints: startingAt(leader), pingIntervalMs: 300, pingTimeoutMs: 300 });
    const store = new EtcdClusterStore(client, { prefix: "/f2/" });
    // A watcher on a follower: its member loses the leader for a moment ("no leader" cancels a
    // watch that requires one); it must go on from where it was.
    const follower = etcd.members.find((m) => m !== leader)!;
    const observer = new EtcdClusterStore(etcd.client({ endpoints: startingAt(follower), pingIntervalMs: 300, pingTimeoutMs: 300 }), { prefix: "/f2/" });
    const seen: number[] = [];
    const w = observer.watch((await observer.list()).revision, { onChanges: (rev) => seen.push(rev), onError: () => seen.push(-1) });
    try {
      const a = await store.openSession(member("qa"), 3_000);
      const claim = await a.claimHive(hive("h1"), 0);
      expect(claim.ok).toBe(true);
      await leader.kill();
      // Writes and reads go on once the other two elect a leader.
      const update = await a.updateHive(hive("h1", 2));
      expect(update.ok).toBe(true);
      const queenRev = claim.ok ? claim.revision - 1 : 0; // openSession's put came just before
      await waitFor(() => seen.includes(update.ok ? update.revision : 0), "the observer to see the update");
      expect(seen).toEqual([queenRev, claim.ok && claim.revision, update.ok && update.revision]);
      expect((await store.list()).hives.get("h1")?.value.health).toBe(2);
      const newLeader = await etcd.leader();
      expect(newLeader).not.toBe(leader);
      // The queen's session survived: keep-alives moved to a live member in time.
      expect(a.lost.aborted).toBe(false);
      await a.close();
    } finally {
      w.close();
      await observer.close();
      await store.close();
      await healthyAgain(leader);
    }
  });

  it("moves on from a stopped (SIGSTOP) member by the call's deadline", async () => {
    const leader = await etcd.leader();
    const follower = etcd.members.find((m) => m !== leader)!;
    const client = etcd.client({ endpoints: startingAt(follower), callTimeoutMs: 500, pingIntervalMs: 300, pingTimeoutMs: 300 });
    await client.put("/f3/a", "1");
    follower.pause();
    try {
      await client.put("/f3/a", "2");
      expect(client.endpoint).not.toBe(follower.clientUrl);
      expect(text((await client.range("/f3/a")).kvs[0]!.value)).toBe("2");
    } finally {
      follower.resume();
    }
  });
});
