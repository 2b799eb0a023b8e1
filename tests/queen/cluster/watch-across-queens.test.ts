import { createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { HiveHealth, QueenService, type WatchResponse } from "../../../gen/apiary/v1/queen_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { waitUntil } from "../../helpers/wait.js";
import { TestHive } from "../helpers/test-hive.js";
import { eventsOf, WatchedState } from "../helpers/watched-state.js";
import { TestCluster } from "./helpers/cluster-fixture.js";

let cluster: TestCluster;
const hives: TestHive[] = [];
const aborts: AbortController[] = [];

afterEach(async () => {
  for (const a of aborts.splice(0)) a.abort();
  for (const h of hives.splice(0)) h.abort();
  await cluster?.close();
});

/** A real Watch stream on the queen, read in the background into a WatchedState. */
function watch(q: Queen, state: WatchedState, sinceRevision = 0n, epoch = ""): { messages: WatchResponse[] } {
  const abort = new AbortController();
  aborts.push(abort);
  const messages: WatchResponse[] = [];
  state.startStream();
  void (async () => {
    try {
      for await (const m of createClient(QueenService, createApiaryTransport(q.url)).watch({ sinceRevision, epoch }, { signal: abort.signal })) {
        messages.push(m);
        state.apply(m);
      }
    } catch {
      // ended by the test
    }
  })();
  return { messages };
}

describe("several queens: Watch", () => {
  it("a watcher at one queen sees hives held by another, and a move between queens without DOWN", async () => {
    cluster = new TestCluster(undefined, { peerFlushIntervalMs: 20 });
    const [a, b, c] = [await cluster.start("a"), await cluster.start("b"), await cluster.start("c")];
    const stateC = new WatchedState();
    const { messages } = watch(c, stateC);
    const onA = await TestHive.connect(a.url, "h1");
    hives.push(onA);
    await onA.reportSynthetic({ workers: 2, gpus: 1 });
    await waitUntil(() => stateC.workers.size === 2 && stateC.hives.get("h1")?.ownerQueenId === "a", "c's watcher to see h1 with its workers, held by a");

    await a.server.close();
    const onB = await TestHive.connect(b.url, "h1", { incarnation: "i2" });
    hives.push(onB);
    await onB.reportSynthetic({ workers: 3, gpus: 1 });
    await waitUntil(() => stateC.workers.size === 3 && stateC.hives.get("h1")?.ownerQueenId === "b", "c's watcher to see h1 held by b");
    const healths = messages.flatMap(eventsOf).filter((e) => e.hive).map((e) => HiveHealth[e.hive!.health]);
    expect(healths).not.toContain("DOWN");
  });

  it("a watcher resuming on another queen with the first queen's epoch gets a snapshot without what was removed", async () => {
    cluster = new TestCluster(undefined, { peerFlushIntervalMs: 20 });
    const [a, b] = [await cluster.start("a"), await cluster.start("b")];
    const keep = await TestHive.connect(b.url, "keep");
    const leave = await TestHive.connect(b.url, "leave");
    hives.push(keep, leave);
    const state = new WatchedState();
    watch(a, state);
    await waitUntil(() => state.hives.has("keep") && state.hives.has("leave"), "a's watcher to list both hives");
    aborts.splice(0).forEach((x) => x.abort());
    const { resumeAt, epoch } = state;
    expect(epoch).toBe(a.epoch);

    await leave.goodbye();
    await waitUntil(() => b.registry.hive("leave") === undefined, "b to forget the hive that left");
    const { messages } = watch(b, state, resumeAt, epoch);
    await waitUntil(() => messages.some((m) => m.kind.case === "snapshotEnd"), "a snapshot from b");
    expect(messages[0]!.snapshot).toBe(true);
    expect(state.epoch).toBe(b.epoch);
    expect([...state.hives.keys()]).toEqual(["keep"]);
  });
});
