import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { GetHiveResponseSchema, QueenService, type GetHiveResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { QueenPeerService } from "../../../gen/apiary/v1/queen_peer_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { waitFor, waitUntil } from "../../helpers/wait.js";
import { TestHive } from "../helpers/test-hive.js";
import { TestCluster } from "./helpers/cluster-fixture.js";

let cluster: TestCluster;
const hives: TestHive[] = [];

afterEach(async () => {
  for (const h of hives.splice(0)) h.abort();
  await cluster?.close();
});

const reads = (q: Queen) => createClient(QueenService, createApiaryTransport(q.url));

/** GetHive's hive without the revision (each queen has its own revision space). */
async function hiveAt(q: Queen, hiveId: string): Promise<Uint8Array | undefined> {
  try {
    const res: GetHiveResponse = await reads(q).getHive({ hiveId });
    return toBinary(GetHiveResponseSchema, create(GetHiveResponseSchema, { hive: res.hive }));
  } catch {
    return undefined;
  }
}

const same = (a: Uint8Array | undefined, b: Uint8Array | undefined) => a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b));

describe("several queens: queen-to-queen telemetry", () => {
  it("any queen answers GetHive, ListHives and FindWorkers for hives held by the others, caught up within the flush interval", async () => {
    cluster = new TestCluster(undefined, { peerFlushIntervalMs: 20 });
    const [a, b, c] = [await cluster.start("a"), await cluster.start("b"), await cluster.start("c")];
    const h1 = await TestHive.connect(a.url, "h1");
    const h2 = await TestHive.connect(b.url, "h2");
    hives.push(h1, h2);
    await h1.reportSynthetic({ workers: 3, gpus: 2 });
    await h2.reportSynthetic({ workers: 2, gpus: 1 });
    for (const q of [a, b, c]) {
      for (const [hiveId, owner] of [["h1", a], ["h2", b]] as const) {
        const want = await hiveAt(owner, hiveId);
        await waitUntil(async () => same(await hiveAt(q, hiveId), want), `${hiveId} at ${q.cluster!.queenId} equal to its owner's`);
      }
    }
    const find = async (q: Queen) => (await reads(q).findWorkers({})).matches.map((m) => `${m.hiveId}/${m.worker?.workerId}`);
    expect(await find(c)).toEqual(await find(a));
    expect(await find(b)).toEqual(await find(a));
    expect((await find(c)).length).toBe(5);
    const list = await reads(c).listHives({});
    expect(list.hives.map((h) => [h.info?.hiveId, h.ownerQueenId])).toEqual([
      ["h1", "a"],
      ["h2", "b"],
    ]);

    // A later report reaches the others too.
    await h1.reportSynthetic({ workers: 1, gpus: 2 });
    const want = await hiveAt(a, "h1");
    await waitUntil(async () => same(await hiveAt(c, "h1"), want), "c to show h1's latest report");
    expect((await find(c)).length).toBe(3);
  });

  it("after a takeover the cache shows the new owner's telemetry", async () => {
    cluster = new TestCluster(undefined, { peerFlushIntervalMs: 20 });
    const [a, b, c] = [await cluster.start("a"), await cluster.start("b"), await cluster.start("c")];
    const onA = await TestHive.connect(a.url, "h1");
    hives.push(onA);
    await onA.reportSynthetic({ workers: 2, gpus: 1 });
    await waitUntil(() => c.registry.hive("h1")?.workers.size === 2, "c to show h1's workers");
    const onB = await TestHive.connect(b.url, "h1", { incarnation: "i2" });
    hives.push(onB);
    await onB.reportSynthetic({ workers: 4, gpus: 1 });
    await waitUntil(() => c.registry.hive("h1")?.workers.size === 4 && c.registry.hive("h1")?.ownerQueenId === "b", "c to show b's telemetry of h1");
    expect(c.registry.hive("h1")!.incarnation).toBe("i2");
    await waitUntil(() => a.registry.hive("h1")?.workers.size === 4, "a to show b's telemetry of h1");
  });

  it("a follower that does not read makes the queen keep one pending entry per hive, not a queue of messages", async () => {
    cluster = new TestCluster();
    const a = await cluster.start("a", { peerFlushIntervalMs: 10 });
    const hive = await TestHive.connect(a.url, "h1");
    hives.push(hive);
    const abort = new AbortController();
    const stream = createClient(QueenPeerService, createApiaryTransport(a.url)).followHeldHives({ followerQueenId: "stalled" }, { signal: abort.signal })[Symbol.asyncIterator]();
    const first = await stream.next();
    expect(first.value?.snapshotEnd).toBe(true);
    // The follower reads nothing more while the hive reports big states many times.
    const queue = await waitFor(() => [...a.cluster!.peerPublisher.queues()][0], "the follower's queue");
    for (let i = 0; i < 200; i++) await hive.reportSynthetic({ workers: 150, gpus: 8 });
    // Every report changed the hive: still one pending entry, and the stream stopped taking messages
    // once HTTP/2 flow control filled (a queue of 200 states would have been sent, or kept).
    expect(queue.dirty.size).toBeLessThanOrEqual(1);
    expect(queue.messages).toBeLessThan(100);
    abort.abort();
    await waitUntil(() => a.cluster!.peerPublisher.followerCount() === 0, "the stalled follower to be dropped");
  });
});
