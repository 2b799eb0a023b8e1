import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { EventType, WatchResponseSchema, type WatchResponse } from "../../../gen/apiary/v1/queen_pb.js";
import type { WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { LivenessClock, systemClock } from "../../../src/common/clock.js";
import { MemoryRegistry } from "../../../src/queen/registry/memory-registry.js";
import { WatchHub, type WatchParams } from "../../../src/queen/watch/watch-hub.js";
import { watchStream } from "../../../src/queen/watch/watch-stream.js";
import { makeHiveInfo, makeReport, makeWorker } from "../helpers/telemetry-builders.js";
import { expectedState, stateDifferences, WatchedState, type WatchFilter } from "../helpers/watched-state.js";

// The Watch stream driven message by message in one process, so the queue is exactly as slow as
// the test makes it: changes pile up between two reads as they do for a slow client.

const streams: AbortController[] = [];
afterEach(() => streams.splice(0).forEach((a) => a.abort()));

function cluster() {
  const registry = new MemoryRegistry({ shards: 4, historySize: 10_000, clock: new LivenessClock(systemClock) });
  const hub = new WatchHub(registry, 10_000);
  let seq = 0;
  const report = (hiveId: string, workers: WorkerTelemetry[]) => registry.applyReport(hiveId, "inc", makeReport(++seq, [], workers));
  const join = (hiveId: string) => registry.hello(makeHiveInfo(hiveId), "inc");
  return { registry, hub, report, join };
}

function params(p: Partial<WatchParams> = {}): WatchParams {
  return { sinceRevision: 0, epoch: "", hiveIds: undefined, model: "", hives: true, workers: true, bookmarkIntervalMs: 5, minUpdateIntervalMs: 0, maxBatch: 0, ...p };
}

/** Opens a stream; next() returns the next message as a client decodes it off the wire. */
function open(hub: WatchHub, p: WatchParams) {
  const abort = new AbortController();
  streams.push(abort);
  const gen = watchStream(hub, p, abort.signal, new AbortController().signal, systemClock, true);
  return {
    async next(): Promise<WatchResponse> {
      const r = await gen.next();
      if (r.done) throw new Error("stream ended");
      return fromBinary(WatchResponseSchema, toBinary(WatchResponseSchema, r.value));
    },
    close: () => abort.abort(),
  };
}

const filterOf = (p: WatchParams): WatchFilter => ({
  hiveIds: p.hiveIds && [...p.hiveIds],
  model: p.model,
  kinds: p.hives && p.workers ? [] : p.hives ? [1] : [2],
});

/**
 * For every message a client may have stopped after, resumes from that message's revision as
 * queen.proto says to, reads until a bookmark at the registry's revision, and checks the promise:
 * no revision going back, no UPDATED for an object never sent, and the registry's state at the end.
 */
async function expectEveryResumeCatchesUp(c: ReturnType<typeof cluster>, p: WatchParams, received: WatchResponse[]): Promise<void> {
  const want = expectedState(
    [...c.registry.hives()].map((h) => c.registry.hiveStatus(h, true)),
    filterOf(p),
  );
  const current = BigInt(c.registry.revision());
  for (let k = 1; k <= received.length; k++) {
    const last = received[k - 1];
    if (last.snapshot && last.kind.case !== "snapshotEnd") continue; // a stream broken inside a snapshot starts over
    const client = new WatchedState();
    client.startStream();
    received.slice(0, k).forEach((m) => client.apply(m));
    client.startStream();
    const resumed = open(c.hub, { ...p, sinceRevision: Number(client.resumeAt), epoch: client.epoch });
    for (;;) {
      const m = await resumed.next();
      expect(m.snapshot, "resumed from history, not a snapshot").toBe(false);
      client.apply(m);
      if (m.kind.case === "bookmark" && m.revision === current) break;
    }
    resumed.close();
    expect(stateDifferences(client, want), `resumed after message ${k} (revision ${client.resumeAt})`).toEqual([]);
  }
}

const label = (m: WatchResponse) =>
  m.kind.case === "worker" ? `${EventType[m.kind.value.type]}:${m.kind.value.worker!.workerId}@${m.revision}` : `${m.kind.case}@${m.revision}`;

describe("Watch ordering", () => {
  it("min_update_interval: a held UPDATED holds the resume point back; later changes and bookmarks never pass it", async () => {
    const c = cluster();
    c.join("h");
    c.report("h", [makeWorker("x"), makeWorker("y")]);
    const p = params({ minUpdateIntervalMs: 60_000 });
    const watch = open(c.hub, p);
    const received: WatchResponse[] = [];
    const read = async () => {
      const m = await watch.next();
      received.push(m);
      return m;
    };
    while ((await read()).kind.case !== "snapshotEnd");
    const r = c.report("h", [makeWorker("x", { cpuPct: 1 }), makeWorker("y")]); // x at r: sent
    expect(label(await read())).toBe(`UPDATED:x@${r}`);
    c.report("h", [makeWorker("x", { cpuPct: 2 }), makeWorker("y")]); // x at r+1: held for 60 s
    c.report("h", [makeWorker("x", { cpuPct: 2 }), makeWorker("y", { cpuPct: 1 })]); // y at r+2
    // y goes out, but its message may only claim r: a client resuming from it must still get x@r+1.
    expect(label(await read())).toBe(`UPDATED:y@${r}`);
    const bookmark = await read();
    expect(label(bookmark)).toBe(`bookmark@${r}`);
    await expectEveryResumeCatchesUp(c, p, received);
  });

  it("coalescing: an undelivered ADDED keeps its place ahead of newer changes of other objects", async () => {
    const c = cluster();
    c.join("h");
    c.report("h", [makeWorker("y")]);
    const p = params();
    const watch = open(c.hub, p);
    const received: WatchResponse[] = [];
    for (let m = await watch.next(); ; m = await watch.next()) {
      received.push(m);
      if (m.kind.case === "snapshotEnd") break;
    }
    // While the client is not reading: z is ADDED, then y changes, then z changes.
    const a = c.report("h", [makeWorker("y"), makeWorker("z")]);
    c.report("h", [makeWorker("y", { cpuPct: 1 }), makeWorker("z")]);
    const last = c.report("h", [makeWorker("y", { cpuPct: 1 }), makeWorker("z", { cpuPct: 1 })]);
    const live = [await watch.next(), await watch.next()];
    received.push(...live);
    // z first, as ADDED with its latest state, stamped at its ADDED's revision; then y.
    expect(live.map(label)).toEqual([`ADDED:z@${a}`, `UPDATED:y@${last}`]);
    await expectEveryResumeCatchesUp(c, p, received);
  });

  it("a worker leaving and joining a watched model, with REMOVED and re-ADDED objects, resumes to the same state", async () => {
    const c = cluster();
    c.join("h");
    c.report("h", [makeWorker("a", { model: "m" }), makeWorker("b", { model: "m" })]);
    const p = params({ model: "m", minUpdateIntervalMs: 60_000 });
    const watch = open(c.hub, p);
    const received: WatchResponse[] = [];
    for (let m = await watch.next(); ; m = await watch.next()) {
      received.push(m);
      if (m.kind.case === "snapshotEnd") break;
    }
    c.report("h", [makeWorker("a", { model: "m", cpuPct: 1 }), makeWorker("b", { model: "m" })]);
    received.push(await watch.next());
    c.report("h", [makeWorker("a", { model: "m", cpuPct: 2 }), makeWorker("b", { model: "other" })]); // a held; b leaves m
    c.report("h", [makeWorker("a", { model: "m", cpuPct: 2 })]); // b gone
    c.report("h", [makeWorker("a", { model: "m", cpuPct: 2 }), makeWorker("b", { model: "m" }), makeWorker("c", { model: "m" })]);
    c.join("h2");
    c.report("h2", [makeWorker("a", { model: "m" })]);
    for (let i = 0; i < 4; i++) received.push(await watch.next());
    expect(received.slice(-4).map((m) => m.kind.case)).not.toContain("bookmark");
    await expectEveryResumeCatchesUp(c, p, received);
  });
});
