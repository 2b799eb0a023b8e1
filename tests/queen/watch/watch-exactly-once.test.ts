import { create, fromBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { EventType, WatchRequestSchema, WatchResponseSchema, type WatchResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { watchParams } from "../../../src/queen/request-validation.js";
import { encodeWatchResponse } from "../../../src/queen/watch/shared-event-encoding.js";
import type { WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { LivenessClock, systemClock, type Clock } from "../../../src/common/clock.js";
import { MemoryRegistry } from "../../../src/queen/registry/memory-registry.js";
import { decodeResumeToken, LEDGER_MAX_DEPARTURES } from "../../../src/queen/watch/watch-resume-ledger.js";
import { WatchHub, type WatchParams } from "../../../src/queen/watch/watch-hub.js";
import { watchStream } from "../../../src/queen/watch/watch-stream.js";
import { seededRandom } from "../../helpers/seeded-random.js";
import { makeHiveInfo, makeReport, makeWorker } from "../helpers/telemetry-builders.js";
import { expectedState, stateDifferences, type WatchFilter } from "../helpers/watched-state.js";

// Exactly once across resume (queen.proto, "Delivery contract"): a client that resumes from the
// resume_token of the last message it received never gets a change twice and never misses one,
// with min_update_interval, batches and filters. Driven in one process, message by message, with a
// clock the test moves, so held UPDATEDs and coalescing happen exactly where the random walk puts them.

const HIVES = ["h0", "h1", "h2", "h3"];
const MODELS = ["m0", "m1"];

/** Real time plus jumps the test makes (bookmarks still come on their own; held UPDATEDs fall due when the test says). */
class JumpingClock implements Clock {
  offset = 0;
  monotonicMs = () => performance.now() + this.offset;
  wallMs = () => Date.now() + this.offset;
}

const streams: AbortController[] = [];
afterEach(() => streams.splice(0).forEach((a) => a.abort()));

function params(p: Partial<WatchParams> = {}): WatchParams {
  return { sinceRevision: 0, epoch: "", hiveIds: undefined, model: "", hives: true, workers: true, bookmarkIntervalMs: 5, minUpdateIntervalMs: 0, maxBatch: 0, ...p };
}

/** The objects a client holds and, per object, the revision of the last change delivered for it (batch events carry it). */
class ExactClient {
  hives = new Map<string, unknown>();
  workers = new Map<string, WorkerTelemetry>();
  private readonly lastRevision = new Map<string, bigint>();
  private snapshot: ExactClient | undefined;
  token: Uint8Array = new Uint8Array();
  revision = 0n;
  epoch = "";

  /** Set on resuming: the queen must honour the token, not start over with a snapshot. */
  resumed = false;

  apply(m: WatchResponse): void {
    if (this.resumed && m.snapshot) throw new Error("a resumed stream started with a snapshot: the token was not honoured");
    this.resumed = false;
    if (m.snapshot && m.kind.case !== "snapshotEnd") {
      this.snapshot ??= new ExactClient();
      for (const e of events(m)) this.snapshot.event(e.key, e.type, e.revision, e.state, e.isHive);
      return;
    }
    if (m.kind.case === "snapshotEnd") {
      const s = this.snapshot ?? new ExactClient();
      this.hives = s.hives;
      this.workers = s.workers;
      this.lastRevision.clear();
      for (const [k, v] of s.lastRevision) this.lastRevision.set(k, v);
      this.snapshot = undefined;
    } else {
      for (const e of events(m)) this.event(e.key, e.type, e.revision, e.state, e.isHive);
    }
    expect(m.resumeToken.length, `resume_token on ${m.kind.case}`).toBeGreaterThan(0);
    this.token = m.resumeToken;
    this.revision = m.revision;
    this.epoch = m.epoch;
  }

  /** A new stream starts: a snapshot in progress is dropped. */
  restart(): void {
    this.snapshot = undefined;
    this.resumed = this.token.length > 0;
  }

  private event(key: string, type: EventType, revision: bigint | undefined, state: unknown, isHive: boolean): void {
    const map = (isHive ? this.hives : this.workers) as Map<string, unknown>;
    const held = map.has(key);
    if (type === EventType.ADDED && held) throw new Error(`ADDED for ${key}, which the client holds (a repeat)`);
    // A REMOVED of an object whose ADDED never went out may come (it carries the last state); an UPDATED may not.
    if (type === EventType.UPDATED && !held) throw new Error(`UPDATED for ${key}, never sent ADDED`);
    if (revision !== undefined) {
      const last = this.lastRevision.get(key);
      if (last !== undefined && revision <= last) throw new Error(`${EventType[type]} ${key}@${revision} repeats a change already delivered (@${last})`);
      this.lastRevision.set(key, revision);
    }
    if (type === EventType.REMOVED) map.delete(key);
    else map.set(key, state);
  }
}

function events(m: WatchResponse) {
  const one = (kind: WatchResponse["kind"] | { case: "hive" | "worker"; value: never }, revision: bigint | undefined) => {
    if (kind.case === "hive") return { key: kind.value.hive!.info!.hiveId, type: kind.value.type, revision, state: kind.value.hive, isHive: true };
    if (kind.case === "worker") return { key: `${kind.value.hiveId}/${kind.value.worker!.workerId}`, type: kind.value.type, revision, state: kind.value.worker, isHive: false };
    throw new Error(`unexpected ${kind.case}`);
  };
  if (m.kind.case === "batch") return m.kind.value.events.map((e) => one(e.kind as never, e.revision));
  if (m.kind.case === "hive" || m.kind.case === "worker") return [one(m.kind, undefined)];
  return [];
}

function cluster() {
  const registry = new MemoryRegistry({ shards: 4, historySize: 100_000, clock: new LivenessClock(systemClock) });
  const hub = new WatchHub(registry, 100_000);
  return { registry, hub };
}

function open(hub: WatchHub, p: WatchParams, clock: Clock) {
  const abort = new AbortController();
  streams.push(abort);
  const gen = watchStream(hub, p, abort.signal, new AbortController().signal, clock, true);
  return {
    async next(): Promise<WatchResponse> {
      const r = await gen.next();
      if (r.done) throw new Error("stream ended");
      // As the raw gRPC route writes it (its fast path carries the token too).
      return fromBinary(WatchResponseSchema, encodeWatchResponse(r.value));
    },
    close: async () => {
      abort.abort();
      await gen.return(undefined);
    },
  };
}

const filterOf = (p: WatchParams): WatchFilter => ({ hiveIds: p.hiveIds && [...p.hiveIds], model: p.model, kinds: p.hives && p.workers ? [] : p.hives ? [1] : [2] });

/** A random walk of one hive set: workers join, leave, change model and load. */
function churn(rnd: () => number, registry: MemoryRegistry, joined: Set<string>, fleets: Map<string, Map<string, WorkerTelemetry>>, seq: { n: number }) {
  const hiveId = HIVES[Math.floor(rnd() * HIVES.length)];
  if (!joined.has(hiveId)) {
    registry.hello(makeHiveInfo(hiveId), "inc");
    joined.add(hiveId);
    fleets.set(hiveId, new Map());
  } else if (rnd() < 0.04) {
    registry.evict(hiveId, "test");
    joined.delete(hiveId);
    return;
  }
  const fleet = fleets.get(hiveId)!;
  const ids = [...fleet.keys()];
  const r = rnd();
  if (r < 0.2 || ids.length === 0) {
    const id = `w${Math.floor(rnd() * 5)}`;
    fleet.set(id, makeWorker(id, { model: MODELS[Math.floor(rnd() * 2)], cpuPct: Math.floor(rnd() * 100) }));
  } else if (r < 0.32) fleet.delete(ids[Math.floor(rnd() * ids.length)]);
  else if (r < 0.42) {
    const id = ids[Math.floor(rnd() * ids.length)];
    fleet.set(id, makeWorker(id, { ...fleet.get(id)!, model: MODELS[Math.floor(rnd() * 2)] }));
  } else {
    for (const [id, w] of fleet) if (rnd() < 0.5) fleet.set(id, makeWorker(id, { ...w, cpuPct: Math.floor(rnd() * 100) }));
  }
  registry.applyReport(hiveId, "inc", makeReport(++seq.n, [], [...fleet.values()]));
}

const WATCHES: Partial<WatchParams>[] = [
  { maxBatch: 3, minUpdateIntervalMs: 200 },
  { maxBatch: 1, minUpdateIntervalMs: 120, model: "m1" },
  { maxBatch: 5, minUpdateIntervalMs: 300, hiveIds: new Set(["h0", "h2"]) },
  { maxBatch: 4 },
  { minUpdateIntervalMs: 150 },
  { minUpdateIntervalMs: 200, model: "m0", hives: false },
];

describe("Watch exactly once across resume", () => {
  it.each(WATCHES.flatMap((w, i) => [1, 2].map((seed) => [seed * 1000 + i, w] as const)))(
    "resuming from the resume_token of the last message received repeats nothing and loses nothing (seed %i)",
    async (seed, watch) => {
      const rnd = seededRandom(seed);
      const clock = new JumpingClock();
      const { registry, hub } = cluster();
      const joined = new Set<string>();
      const fleets = new Map<string, Map<string, WorkerTelemetry>>();
      const seq = { n: 0 };
      for (let i = 0; i < 10; i++) churn(rnd, registry, joined, fleets, seq);
      const p = params(watch);
      const client = new ExactClient();
      let stream = open(hub, p, clock);
      let resumes = 0;
      for (let step = 0; step < 400; step++) {
        const r = rnd();
        if (r < 0.35) churn(rnd, registry, joined, fleets, seq);
        else if (r < 0.5) clock.offset += Math.floor(rnd() * 120);
        else if (r < 0.92) {
          // Read a few messages; the last ones of them may be lost in flight when the connection breaks next.
          const n = 1 + Math.floor(rnd() * 4);
          const read: WatchResponse[] = [];
          for (let i = 0; i < n; i++) read.push(await stream.next());
          const lost = rnd() < 0.3 ? Math.floor(rnd() * n) : 0;
          for (const m of read.slice(0, n - lost)) client.apply(m);
          if (lost > 0) {
            await stream.close();
            client.restart();
            stream = open(hub, { ...p, sinceRevision: Number(client.revision), epoch: client.epoch, resumeFrom: decodeResumeToken(client.token) }, clock);
            resumes++;
          }
        } else {
          await stream.close();
          client.restart();
          stream = open(hub, { ...p, sinceRevision: Number(client.revision), epoch: client.epoch, resumeFrom: decodeResumeToken(client.token) }, clock);
          resumes++;
        }
      }
      // Quiet: let every held change go out, then read until a bookmark at the registry's revision.
      clock.offset += 10_000;
      const current = BigInt(registry.revision());
      for (let m = await stream.next(); ; m = await stream.next()) {
        client.apply(m);
        if (m.kind.case === "bookmark" && m.revision === current) break;
        clock.offset += 100;
      }
      await stream.close();
      expect(resumes).toBeGreaterThan(10);
      const want = expectedState([...registry.hives()].map((h) => registry.hiveStatus(h, true)), filterOf(p));
      expect(stateDifferences({ hives: client.hives as never, workers: client.workers }, want)).toEqual([]);
    },
    30_000,
  );
});

describe("resume_token", () => {
  it("bytes that are no token are INVALID_ARGUMENT naming the field", () => {
    const req = create(WatchRequestSchema, { resumeToken: new TextEncoder().encode("a1:x:1:2") });
    expect(() => watchParams(req, { bookmarkIntervalMs: 1000, minBookmarkIntervalMs: 100 })).toThrow(/resume_token/);
  });

  it("a token of another queen, or with other filters, starts with a snapshot", async () => {
    const { registry, hub } = cluster();
    registry.hello(makeHiveInfo("h0"), "inc");
    registry.applyReport("h0", "inc", makeReport(1, [], [makeWorker("w0")]));
    const first = open(hub, params(), systemClock);
    let m = await first.next();
    while (m.kind.case !== "snapshotEnd") m = await first.next();
    await first.close();
    const token = decodeResumeToken(m.resumeToken)!;
    for (const p of [params({ resumeFrom: { ...token, epoch: "other" } }), params({ resumeFrom: token, model: "m1" })]) {
      const again = open(hub, p, systemClock);
      expect((await again.next()).snapshot).toBe(true);
      await again.close();
    }
    const same = open(hub, params({ resumeFrom: token }), systemClock);
    registry.applyReport("h0", "inc", makeReport(2, [], [makeWorker("w0", { cpuPct: 5 })]));
    const next = await same.next();
    expect(next.snapshot).toBe(false);
    expect(next.kind.case).toBe("worker");
    await same.close();
  });
});

describe("resume ledger bounds", () => {
  it("keeps at most LEDGER_MAX_DEPARTURES per stream: a token older than that starts a snapshot, a recent one still resumes", async () => {
    const { registry, hub } = cluster();
    registry.hello(makeHiveInfo("h0"), "inc");
    const stream = open(hub, params({ hives: false }), systemClock);
    let m = await stream.next();
    while (m.kind.case !== "snapshotEnd") m = await stream.next();
    const old = decodeResumeToken(m.resumeToken)!;
    let recent = old;
    for (let i = 0; i <= LEDGER_MAX_DEPARTURES; i++) {
      registry.applyReport("h0", "inc", makeReport(i + 1, [], [makeWorker("w0", { cpuPct: i % 100 })]));
      recent = decodeResumeToken((await stream.next()).resumeToken)!;
    }
    await stream.close();
    const fromOld = open(hub, params({ hives: false, resumeFrom: old }), systemClock);
    expect((await fromOld.next()).snapshot, "a token past the ledger").toBe(true);
    await fromOld.close();
    const fromRecent = open(hub, params({ hives: false, resumeFrom: recent }), systemClock);
    registry.applyReport("h0", "inc", makeReport(LEDGER_MAX_DEPARTURES + 10, [], [makeWorker("w0", { cpuPct: 7 })]));
    expect((await fromRecent.next()).snapshot, "a recent token").toBe(false);
    await fromRecent.close();
  });
});
