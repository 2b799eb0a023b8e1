import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Compare_CompareResult, Compare_CompareTarget } from "../../gen/etcd/etcdserver/etcdserverpb/rpc_pb.js";
import { Event_EventType, type Event } from "../../gen/etcd/mvcc/mvccpb/kv_pb.js";
import type { EtcdClient } from "../../src/etcd/etcd-client.js";
import { EtcdClosedError, EtcdCompactedError, EtcdUnavailableError } from "../../src/etcd/etcd-errors.js";
import { LeaseKeeper } from "../../src/etcd/etcd-lease-keeper.js";
import { EtcdWatch } from "../../src/etcd/etcd-watch.js";
import { bytes, text } from "../../src/etcd/key-range.js";
import { startEtcd, type EtcdCluster } from "../helpers/etcd.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";
import { waitFor } from "../helpers/wait.js";

let etcd: EtcdCluster;
let client: EtcdClient;

beforeAll(async () => {
  etcd = await startEtcd();
  client = etcd.client();
});
afterAll(async () => {
  await etcd?.stop();
});

function recorder() {
  const revs: number[] = [];
  const events: Event[] = [];
  const errors: Error[] = [];
  return {
    revs,
    events,
    errors,
    handlers: {
      onEvents: (rev: number, evs: readonly Event[]) => {
        revs.push(rev);
        events.push(...evs);
      },
      onError: (err: Error) => errors.push(err),
    },
  };
}

describe("etcd client: KV and Txn", () => {
  it("puts, ranges a prefix, deletes, and counts its writes", async () => {
    const before = client.counters.kvWrites;
    await client.put("/kv/a", "1");
    await client.put("/kv/b", "2");
    await client.put("/kw/c", "3");
    const got = await client.range("/kv/", { prefix: true });
    expect(got.kvs.map((kv) => [text(kv.key), text(kv.value)])).toEqual([["/kv/a", "1"], ["/kv/b", "2"]]);
    const del = await client.deleteRange("/kv/", { prefix: true });
    expect(del.deleted).toBe(2n);
    expect((await client.range("/kw/c")).kvs).toHaveLength(1);
    expect(client.counters.kvWrites - before).toBe(4);
  });

  it("Txn compares value, mod_revision, version and lease", async () => {
    const put = await client.put("/txn/k", "v1");
    const rev = put.header!.revision;
    const key = bytes("/txn/k");
    const cmp = (target: Compare_CompareTarget, targetUnion: never) => ({ key, target, result: Compare_CompareResult.EQUAL, targetUnion });
    const ok = await client.txn({
      compare: [
        cmp(Compare_CompareTarget.VALUE, { case: "value", value: bytes("v1") } as never),
        cmp(Compare_CompareTarget.MOD, { case: "modRevision", value: rev } as never),
        cmp(Compare_CompareTarget.VERSION, { case: "version", value: 1n } as never),
        cmp(Compare_CompareTarget.LEASE, { case: "lease", value: 0n } as never),
      ],
      success: [{ request: { case: "requestPut", value: { key, value: bytes("v2") } } }],
    });
    expect(ok.succeeded).toBe(true);
    const stale = await client.txn({
      compare: [cmp(Compare_CompareTarget.MOD, { case: "modRevision", value: rev } as never)],
      success: [{ request: { case: "requestPut", value: { key, value: bytes("v3") } } }],
      failure: [{ request: { case: "requestRange", value: { key } } }],
    });
    expect(stale.succeeded).toBe(false);
    const r = stale.responses[0]!.response;
    expect(r.case === "responseRange" && text(r.value.kvs[0]!.value)).toBe("v2");
  });
});

describe("etcd client: leases", () => {
  it("grants, keeps alive, reports TTL, and revokes (keys go with it)", async () => {
    const sentAt = performance.now();
    const grant = await client.leaseGrant(2);
    await client.put("/lease/k", "x", grant.ID);
    const lost: Error[] = [];
    const keeper = new LeaseKeeper(client, { id: grant.ID, ttlMs: 2_000, grantSentAt: sentAt, onLost: (e) => lost.push(e) });
    await waitFor(() => keeper.renewals >= 2, "two renewals");
    const ttl = await client.leaseTimeToLive(grant.ID, true);
    expect(ttl.TTL).toBeGreaterThan(0n);
    expect(ttl.keys.map(text)).toEqual(["/lease/k"]);
    await client.leaseRevoke(grant.ID);
    expect((await client.range("/lease/k")).kvs).toHaveLength(0);
    await waitFor(() => lost.length > 0, "the keeper to learn the lease is gone");
    expect(lost[0]!.message).toMatch(/expired/);
    expect((await client.leaseTimeToLive(grant.ID)).TTL).toBe(-1n);
  });

  it("a keeper cut off from etcd gives the lease up by its local deadline, before etcd expires it", async () => {
    const proxy = await TcpProxy.start(etcd.endpoints[0]!);
    const cut = etcd.client({ endpoints: [proxy.url()], pingIntervalMs: 300, pingTimeoutMs: 300, retryBudgetMs: 1_000 });
    const sentAt = performance.now();
    const grant = await cut.leaseGrant(2);
    await cut.put("/cut/owner", "me", grant.ID);
    const lost: number[] = [];
    const keeper = new LeaseKeeper(cut, { id: grant.ID, ttlMs: 2_000, grantSentAt: sentAt, onLost: () => lost.push(performance.now()) });
    await waitFor(() => keeper.renewals >= 1, "a renewal");
    proxy.cut("blackhole");
    await waitFor(() => lost.length > 0, "the local deadline", 5_000);
    // etcd still holds the lease (and its key) for a moment: the cut-off side gave up first.
    expect((await client.leaseTimeToLive(grant.ID)).TTL).toBeGreaterThanOrEqual(0n);
    expect((await client.range("/cut/owner")).kvs).toHaveLength(1);
    await proxy.close();
  });
});

describe("etcd client: watch", () => {
  it("delivers each revision's events once, in order", async () => {
    const start = Number((await client.range("/w1/")).header!.revision) + 1;
    const rec = recorder();
    const w = new EtcdWatch(client, { prefix: "/w1/", startRevision: start }, rec.handlers);
    const p1 = await client.put("/w1/a", "1");
    await client.txn({
      success: [
        { request: { case: "requestPut", value: { key: bytes("/w1/b"), value: bytes("2") } } },
        { request: { case: "requestDeleteRange", value: { key: bytes("/w1/a") } } },
      ],
    });
    await waitFor(() => rec.revs.length >= 2, "two revisions");
    expect(rec.revs).toEqual([Number(p1.header!.revision), Number(p1.header!.revision) + 1]);
    expect(rec.events.map((e) => [e.type, text(e.kv!.key)])).toEqual([
      [Event_EventType.PUT, "/w1/a"],
      [Event_EventType.PUT, "/w1/b"],
      [Event_EventType.DELETE, "/w1/a"],
    ]);
    w.close();
  });

  it("restarts a broken stream on the next endpoint from the last revision + 1: nothing lost, nothing repeated", async () => {
    const a = await TcpProxy.start(etcd.endpoints[0]!);
    const b = await TcpProxy.start(etcd.endpoints[0]!);
    const watching = etcd.client({ endpoints: [a.url(), b.url()], pingIntervalMs: 300, pingTimeoutMs: 300 });
    const start = Number((await client.range("/w2/")).header!.revision) + 1;
    const rec = recorder();
    const w = new EtcdWatch(watching, { prefix: "/w2/", startRevision: start }, rec.handlers);
    const wanted: number[] = [];
    for (let i = 0; i < 5; i++) wanted.push(Number((await client.put(`/w2/k${i}`, `${i}`)).header!.revision));
    await waitFor(() => rec.revs.length >= 5, "the first five");
    a.cut("reset");
    for (let i = 5; i < 10; i++) wanted.push(Number((await client.put(`/w2/k${i}`, `${i}`)).header!.revision));
    await waitFor(() => rec.revs.length >= 10, "the next five, through the other endpoint");
    expect(rec.revs).toEqual(wanted);
    expect(w.streams).toBeGreaterThanOrEqual(2);
    expect(watching.endpoint).toBe(b.url());
    expect(rec.errors).toEqual([]);
    w.close();
    await a.close();
    await b.close();
  });

  it("reports EtcdCompactedError when history was compacted while its stream was broken", async () => {
    const proxy = await TcpProxy.start(etcd.endpoints[0]!);
    const watching = etcd.client({ endpoints: [proxy.url()], pingIntervalMs: 300, pingTimeoutMs: 300 });
    const start = Number((await client.range("/w3/")).header!.revision) + 1;
    const rec = recorder();
    const w = new EtcdWatch(watching, { prefix: "/w3/", startRevision: start }, rec.handlers);
    await client.put("/w3/a", "1");
    await waitFor(() => rec.revs.length >= 1, "the first change");
    proxy.cut("reset");
    await client.put("/w3/a", "2");
    const last = await client.put("/w3/a", "3");
    await client.compact(Number(last.header!.revision));
    proxy.restore();
    const err = await waitFor(() => rec.errors[0], "the compaction");
    expect(err).toBeInstanceOf(EtcdCompactedError);
    expect((err as EtcdCompactedError).compactRevision).toBe(Number(last.header!.revision));
    expect(rec.revs).toHaveLength(1);
    w.close();
    await proxy.close();
  });

  it("gives up with EtcdUnavailableError once no member served it for its retry budget", async () => {
    const proxy = await TcpProxy.start(etcd.endpoints[0]!);
    const watching = etcd.client({ endpoints: [proxy.url()], pingIntervalMs: 300, pingTimeoutMs: 300 });
    const rec = recorder();
    const start = Number((await client.range("/w4/")).header!.revision) + 1;
    const w = new EtcdWatch(watching, { prefix: "/w4/", startRevision: start, retryBudgetMs: 500 }, rec.handlers);
    await client.put("/w4/a", "1");
    await waitFor(() => rec.revs.length >= 1, "the stream to deliver");
    proxy.cut("reset");
    const err = await waitFor(() => rec.errors[0], "the watch to give up");
    expect(err).toBeInstanceOf(EtcdUnavailableError);
    expect(rec.errors).toHaveLength(1);
    await proxy.close();
  });
});

describe("etcd client: close", () => {
  it("ends pending calls and watches at once", async () => {
    const proxy = await TcpProxy.start(etcd.endpoints[0]!);
    const c = etcd.client({ endpoints: [proxy.url()] });
    const put = await c.put("/close/a", "1");
    const rec = recorder();
    new EtcdWatch(c, { prefix: "/close/", startRevision: Number(put.header!.revision) }, rec.handlers);
    await waitFor(() => rec.revs.length >= 1, "the watch to run");
    proxy.cut("blackhole");
    const pending = c.range("/close/a");
    await c.close();
    await expect(pending).rejects.toBeInstanceOf(EtcdClosedError);
    await expect(c.range("/close/a")).rejects.toBeInstanceOf(EtcdClosedError);
    expect(rec.errors).toEqual([]);
    await proxy.close();
  });
});
