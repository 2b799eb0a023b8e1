import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { EventType, type QueenService, type WatchResponse } from "../../../gen/apiary/v1/queen_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { WatchRequestSchema } from "../../../gen/apiary/v1/queen_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import { objectKey } from "../../../src/queen/watch/watcher-queue.js";
import { waitUntil } from "../../helpers/wait.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { makeReport, makeWorker } from "../helpers/telemetry-builders.js";
import { TestHive } from "../helpers/test-hive.js";

let queen: Queen;
let client: Client<typeof QueenService>;
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await queen.close();
});

class WatchReader {
  private readonly abort = new AbortController();
  private readonly it: AsyncIterator<WatchResponse>;
  constructor(req: MessageInitShape<typeof WatchRequestSchema>) {
    this.it = client.watch(req, { signal: this.abort.signal })[Symbol.asyncIterator]();
    cleanups.push(() => this.close());
  }
  async next(): Promise<WatchResponse> {
    const r = await this.it.next();
    if (r.done) throw new Error("watch ended");
    return r.value;
  }
  /** Reads until `stop` holds for a message (inclusive). */
  async until(stop: (m: WatchResponse) => boolean): Promise<WatchResponse[]> {
    const out: WatchResponse[] = [];
    for (;;) {
      const m = await this.next();
      out.push(m);
      if (stop(m)) return out;
    }
  }
  close(): void {
    this.abort.abort();
  }
}

const label = (m: WatchResponse) => {
  switch (m.kind.case) {
    case "hive":
      return `hive:${EventType[m.kind.value.type]}:${m.kind.value.hive!.info!.hiveId}`;
    case "worker":
      return `worker:${EventType[m.kind.value.type]}:${m.kind.value.hiveId}/${m.kind.value.worker!.workerId}`;
    default:
      return m.kind.case ?? "none";
  }
};
const isEvent = (m: WatchResponse) => m.kind.case === "hive" || m.kind.case === "worker";

async function cluster(hives: string[], workers = 2): Promise<TestHive[]> {
  const out: TestHive[] = [];
  for (const id of hives) {
    const hive = await TestHive.connect(queen.url, id);
    await hive.reportSynthetic({ workers, gpus: 1 });
    cleanups.push(() => hive.abort());
    out.push(hive);
  }
  return out;
}

describe("Watch", () => {
  it("starts with a filtered snapshot ending in snapshot_end, then live events", async () => {
    ({ queen, client } = await startTestQueen());
    const [h1] = await cluster(["h1", "h2"]);
    const watch = new WatchReader({ hiveIds: ["h1"] });
    const snapshot = await watch.until((m) => m.kind.case === "snapshotEnd");
    expect(snapshot.map(label)).toEqual(["hive:ADDED:h1", "worker:ADDED:h1/w0", "worker:ADDED:h1/w1", "snapshotEnd"]);
    const snapshotRevision = snapshot.at(-1)!.revision;
    expect(snapshotRevision).toBe(BigInt(queen.registry.revision()));
    for (const m of snapshot) expect(m.epoch).toBe(queen.epoch);
    for (const m of snapshot) expect(m.snapshot).toBe(true);

    await h1.reportSynthetic({ workers: 1, gpus: 1, tick: 5 });
    const live = await watch.until((m) => label(m) === "worker:REMOVED:h1/w1");
    expect(live.map(label)).toEqual(["hive:UPDATED:h1", "worker:UPDATED:h1/w0", "worker:REMOVED:h1/w1"]);
    for (const m of live) expect(m.revision).toBeGreaterThan(snapshotRevision);
    for (const m of live) expect(m.snapshot).toBe(false);
    expect(live.map((m) => m.revision)).toEqual([...live.map((m) => m.revision)].sort((x, y) => (x < y ? -1 : 1)));
  });

  it("filters by model and kind on the server", async () => {
    ({ queen, client } = await startTestQueen());
    await cluster(["h1"], 4);
    const workersOnly = new WatchReader({ kinds: [2], model: "model-1" });
    expect((await workersOnly.until((m) => m.kind.case === "snapshotEnd")).map(label)).toEqual(["worker:ADDED:h1/w1", "snapshotEnd"]);
    const hivesOnly = new WatchReader({ kinds: [1] });
    expect((await hivesOnly.until((m) => m.kind.case === "snapshotEnd")).map(label)).toEqual(["hive:ADDED:h1", "snapshotEnd"]);
  });

  it("shows a worker whose model changes as REMOVED from its old model's watchers and ADDED to its new one's", async () => {
    ({ queen, client } = await startTestQueen());
    const hive = await TestHive.connect(queen.url, "h1");
    cleanups.push(() => hive.abort());
    await hive.report(makeReport(0, [], [makeWorker("w", { model: "old-model" }), makeWorker("other", { model: "old-model" })]));
    const onOld = new WatchReader({ model: "old-model" });
    const onNew = new WatchReader({ model: "new-model" });
    const onAll = new WatchReader({ kinds: [2] });
    for (const w of [onOld, onNew, onAll]) await w.until((m) => m.kind.case === "snapshotEnd");
    const beforeChange = BigInt(queen.registry.revision());

    await hive.report(makeReport(0, [], [makeWorker("w", { model: "new-model" }), makeWorker("other", { model: "old-model", cpuPct: 7 })]));
    await hive.report(makeReport(0, [], [makeWorker("w", { model: "new-model", cpuPct: 9 }), makeWorker("other", { model: "old-model", cpuPct: 7 })]));
    const otherUpdated = (m: WatchResponse) => label(m) === "worker:UPDATED:h1/other";
    expect((await onOld.until(otherUpdated)).filter(isEvent).map(label)).toEqual(["worker:REMOVED:h1/w", "worker:UPDATED:h1/other"]);
    expect((await onNew.until((m) => isEvent(m) && m.revision === BigInt(queen.registry.revision()))).filter(isEvent).map(label)).toEqual([
      "worker:ADDED:h1/w",
      "worker:UPDATED:h1/w",
    ]);
    expect((await onAll.until((m) => m.revision === BigInt(queen.registry.revision()))).filter(isEvent).map(label)).toEqual([
      "worker:UPDATED:h1/w",
      "worker:UPDATED:h1/other",
      "worker:UPDATED:h1/w",
    ]);
    // A watcher resuming from before the change replays it the same way.
    const resumed = new WatchReader({ model: "old-model", sinceRevision: beforeChange, epoch: queen.epoch });
    expect(label(await resumed.next())).toBe("worker:REMOVED:h1/w");
  });

  it("resumes after a reconnect with no gaps and no duplicates", async () => {
    ({ queen, client } = await startTestQueen());
    const [h1] = await cluster(["h1"]);
    const first = new WatchReader({});
    const snapshot = await first.until((m) => m.kind.case === "snapshotEnd");
    await h1.reportSynthetic({ workers: 3, gpus: 1, tick: 1 });
    const seen = await first.until((m) => label(m) === "worker:ADDED:h1/w2");
    const resumeAt = seen.at(-1)!.revision;
    first.close();

    await h1.reportSynthetic({ workers: 1, gpus: 1, tick: 2 });
    const h2 = await TestHive.connect(queen.url, "h2");
    cleanups.push(() => h2.abort());
    await h2.reportSynthetic({ workers: 1, gpus: 1 });
    const target = BigInt(queen.registry.revision());

    const second = new WatchReader({ sinceRevision: resumeAt, epoch: snapshot[0].epoch });
    const resumed = await second.until((m) => m.revision === target);
    expect(resumed.some((m) => m.kind.case === "snapshotEnd")).toBe(false);
    // Every object changed after resumeAt arrives once with its latest state (changes to one object
    // that were not yet delivered coalesce), in revision order; nothing at or before resumeAt repeats.
    const latest = new Map<string, number>();
    for (const e of queen.registry.eventsSince(Number(resumeAt))!) latest.set(objectKey(e) + (e.type === 3 ? "/removed" : ""), e.revision);
    expect(resumed.map((m) => Number(m.revision))).toEqual([...latest.values()].sort((x, y) => x - y));
    expect(resumed.map(label)).toContain("worker:REMOVED:h1/w2");
    expect(resumed.map(label)).toContain("hive:ADDED:h2"); // ADDED then UPDATED, undelivered: stays ADDED
  });

  it("starts over with a snapshot for a revision older than the history, or another epoch", async () => {
    ({ queen, client } = await startTestQueen({ historySize: 5 }));
    const [h1] = await cluster(["h1"], 3);
    for (let tick = 1; tick <= 3; tick++) await h1.reportSynthetic({ workers: 3, gpus: 1, tick });
    const tooOld = new WatchReader({ sinceRevision: 1n, epoch: queen.epoch });
    const a = await tooOld.until((m) => m.kind.case === "snapshotEnd");
    expect(a.map(label)).toEqual(["hive:ADDED:h1", "worker:ADDED:h1/w0", "worker:ADDED:h1/w1", "worker:ADDED:h1/w2", "snapshotEnd"]);
    const otherEpoch = new WatchReader({ sinceRevision: BigInt(queen.registry.revision()), epoch: "another-queen" });
    const b = await otherEpoch.until((m) => m.kind.case === "snapshotEnd");
    expect(b.filter(isEvent)).toHaveLength(4);
    const current = new WatchReader({ sinceRevision: BigInt(queen.registry.revision()), epoch: queen.epoch, bookmarkInterval: { nanos: 100_000_000 } });
    const c = await current.next();
    expect(c.kind.case).toBe("bookmark"); // nothing to replay: the first message is an idle bookmark
    expect(c.revision).toBe(BigInt(queen.registry.revision()));
  });

  it("sends bookmarks when idle", async () => {
    ({ queen, client } = await startTestQueen());
    await cluster(["h1"]);
    const watch = new WatchReader({ bookmarkInterval: { nanos: 100_000_000 } });
    await watch.until((m) => m.kind.case === "snapshotEnd");
    const bookmark = await watch.next();
    expect(bookmark.kind.case).toBe("bookmark");
    expect(bookmark.revision).toBe(BigInt(queen.registry.revision()));
    expect(bookmark.epoch).toBe(queen.epoch);
  });

  it("keeps a stalled watcher bounded while a fast one keeps receiving", async () => {
    ({ queen, client } = await startTestQueen());
    const hives = await cluster(["h1", "h2"], 50);
    const objects = 2 + 2 * 50;
    const stalled = new WatchReader({});
    await stalled.next(); // the stream is open; never read again
    const fast = new WatchReader({});
    await fast.until((m) => m.kind.case === "snapshotEnd");
    let maxPending = 0;
    for (let tick = 1; tick <= 60; tick++) {
      for (const hive of hives) await hive.reportSynthetic({ workers: 50, gpus: 1, tick });
      const target = BigInt(queen.registry.revision());
      await fast.until((m) => m.revision >= target);
      for (const s of queen.hub.stats()) maxPending = Math.max(maxPending, s.pending);
    }
    expect(queen.hub.stats()).toHaveLength(2);
    expect(maxPending).toBeGreaterThan(0); // the stalled watcher really fell behind
    expect(maxPending).toBeLessThanOrEqual(objects);
  });

  it("ends with UNAVAILABLE when the queen shuts down", async () => {
    ({ queen, client } = await startTestQueen());
    const watch = new WatchReader({});
    await watch.until((m) => m.kind.case === "snapshotEnd");
    const ended = watch.next().then(() => undefined, (e: unknown) => ConnectError.from(e));
    await queen.close();
    expect((await ended)?.code).toBe(Code.Unavailable);
    await waitUntil(() => queen.hub.stats().length === 0, "watchers closed");
  });
});
