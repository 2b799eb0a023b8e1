import type { MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { afterEach, describe, expect, it } from "vitest";
import { EventType, QueenService, WatchKind, type WatchRequestSchema, type WatchResponse } from "../../../gen/apiary/v1/queen_pb.js";
import type { WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import { waitUntil } from "../../helpers/wait.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { makeReport, makeWorker } from "../helpers/telemetry-builders.js";
import { TestHive } from "../helpers/test-hive.js";
import { eventsOf, expectedState, stateDifferences, WatchedState } from "../helpers/watched-state.js";
import { seededRandom as random } from "../../helpers/seeded-random.js";


const HIVES = ["h0", "h1", "h2", "h3", "h4", "h5"];
const MODELS = ["m0", "m1", "m2"];
type WatchInit = MessageInitShape<typeof WatchRequestSchema>;
const ms = (n: number) => ({ nanos: n * 1_000_000 });
/** About 1 KiB per worker event, so a client that pauses fills its HTTP/2 window sooner and changes pile up on the queen. */
const ARGV = Array.from({ length: 10 }, (_, i) => `--option-${i}=${"x".repeat(90)}`);

/** Every filter, with and without min_update_interval and batches. */
const WATCHERS: WatchInit[] = [
  {},
  { kinds: [WatchKind.HIVE] },
  { kinds: [WatchKind.WORKER] },
  { model: "m1" },
  { hiveIds: ["h0", "h1"] },
  { hiveIds: ["h2"], model: "m0", kinds: [WatchKind.WORKER] },
  { minUpdateInterval: ms(300) },
  { minUpdateInterval: ms(200), model: "m2" },
  { minUpdateInterval: ms(250), hiveIds: ["h3", "h4", "h5"], kinds: [WatchKind.HIVE, WatchKind.WORKER] },
  // Batched: they must end with the same state as the unbatched ones above.
  { maxBatch: 1 },
  { maxBatch: 7, model: "m1" },
  { maxBatch: 1000, minUpdateInterval: ms(300) },
  { maxBatch: 3, hiveIds: ["h0", "h1"], kinds: [WatchKind.WORKER] },
];

/** An old client's: it resumes by since_revision (at least once), the others by resume_token (exactly once). */
const SINCE_REVISION_WATCHER: WatchInit = { minUpdateInterval: ms(300), maxBatch: 5 };

/** A promise of the delivery contract broken (a failure whatever the stream was doing). */
class BrokenContract extends Error {}

/**
 * Exactly once across resumes by resume_token: no ADDED for an object the client holds, no batch
 * event at or below a revision already delivered for its object, and a resumed stream that picks
 * up where the token says (no snapshot).
 */
class ExactlyOnce {
  token: Uint8Array = new Uint8Array();
  private held = new Set<string>();
  private lastRevision = new Map<string, bigint>();
  private snapshot: { held: Set<string>; lastRevision: Map<string, bigint> } | undefined;
  private resuming = false;

  /** A new stream starts; with a token, the queen must honour it. */
  startStream(): void {
    this.snapshot = undefined;
    this.resuming = this.token.length > 0;
  }

  apply(m: WatchResponse): void {
    if (this.resuming && m.snapshot) throw new BrokenContract("a stream resumed by resume_token started with a snapshot");
    this.resuming = false;
    const revisions = m.kind.case === "batch" ? m.kind.value.events.map((e) => e.revision) : [undefined];
    const keyed = eventsOf(m).map((e, i) => ({ key: e.hive ? e.hiveId : `${e.hiveId}/${e.worker!.workerId}`, type: e.type, revision: revisions[i] }));
    if (m.snapshot && m.kind.case !== "snapshotEnd") {
      this.snapshot ??= { held: new Set(), lastRevision: new Map() };
      for (const e of keyed) this.deliver(e, this.snapshot.held, this.snapshot.lastRevision);
      return;
    }
    if (m.kind.case === "snapshotEnd") {
      this.held = this.snapshot?.held ?? new Set();
      this.lastRevision = this.snapshot?.lastRevision ?? new Map();
      this.snapshot = undefined;
    } else {
      for (const e of keyed) this.deliver(e, this.held, this.lastRevision);
    }
    if (m.resumeToken.length === 0) throw new BrokenContract(`no resume_token on ${m.kind.case}`);
    this.token = m.resumeToken;
  }

  private deliver(e: { key: string; type: EventType; revision: bigint | undefined }, held: Set<string>, lastRevision: Map<string, bigint>): void {
    if (e.type === EventType.ADDED && held.has(e.key)) throw new BrokenContract(`ADDED for ${e.key}, which the client holds (a repeat)`);
    if (e.revision !== undefined) {
      const last = lastRevision.get(e.key);
      if (last !== undefined && e.revision <= last) throw new BrokenContract(`${EventType[e.type]} ${e.key}@${e.revision} repeats a change already delivered (@${last})`);
      lastRevision.set(e.key, e.revision);
    }
    if (e.type === EventType.REMOVED) held.delete(e.key);
    else held.add(e.key);
  }
}

/** One simulated hive: its workers as it will next report them. */
class SimHive {
  conn: TestHive | undefined;
  workers = new Map<string, WorkerTelemetry>();
  private nextWorker = 0;
  constructor(
    readonly id: string,
    private readonly rnd: () => number,
  ) {}

  mutate(): void {
    const pick = () => [...this.workers.keys()][Math.floor(this.rnd() * this.workers.size)];
    const r = this.rnd();
    if (r < 0.25 || this.workers.size === 0) {
      const id = `w${this.nextWorker++ % 6}`; // ids come back after removal
      this.workers.set(id, makeWorker(id, { model: MODELS[Math.floor(this.rnd() * MODELS.length)], cpuPct: Math.floor(this.rnd() * 100), argv: ARGV }));
    } else if (r < 0.4) {
      this.workers.delete(pick());
    } else if (r < 0.55) {
      const id = pick();
      this.workers.set(id, makeWorker(id, { ...this.workers.get(id)!, model: MODELS[Math.floor(this.rnd() * MODELS.length)] }));
    } else {
      for (const id of this.workers.keys()) {
        if (this.rnd() < 0.6) this.workers.set(id, makeWorker(id, { ...this.workers.get(id)!, cpuPct: Math.floor(this.rnd() * 100) }));
      }
    }
  }
}

/** A watcher that cancels itself at random moments and resumes from its last resume_token (or, the old way, its last revision). */
class RestlessWatcher {
  readonly state = new WatchedState();
  readonly exactly = new ExactlyOnce();
  failure: unknown;
  streams = 0;
  private target: bigint | undefined;
  private caughtUp!: () => void;
  readonly done = new Promise<void>((resolve) => (this.caughtUp = resolve));
  private resumed!: () => void;
  /** Settles once the watcher has been cancelled and resumed twice (its third stream started). */
  readonly resumedTwice = new Promise<void>((resolve) => (this.resumed = resolve));

  constructor(
    private readonly client: Client<typeof QueenService>,
    readonly request: WatchInit,
    private readonly rnd: () => number,
    readonly resumeBy: "token" | "since_revision" = "token",
  ) {}

  /** From now on: no more cancels; done once a message at `revision` (or later) arrived. */
  settle(revision: bigint): void {
    this.target = revision;
    if (this.state.resumeAt >= revision) this.caughtUp();
  }

  async run(stopped: AbortSignal): Promise<void> {
    while (!stopped.aborted && this.failure === undefined) {
      const abort = new AbortController();
      const cancelAfter = 1 + Math.floor(this.rnd() * 40);
      const cancelTimer = setTimeout(() => this.target === undefined && abort.abort(), 20 + Math.floor(this.rnd() * 300));
      this.state.startStream();
      this.exactly.startStream();
      if (++this.streams > 2) this.resumed();
      let n = 0;
      try {
        const resume = this.resumeBy === "token" ? { resumeToken: this.exactly.token } : { sinceRevision: this.state.resumeAt, epoch: this.state.epoch };
        const request = { ...(this.request as object), bookmarkInterval: ms(100), ...resume } as WatchInit;
        for await (const m of this.client.watch(request, { signal: AbortSignal.any([abort.signal, stopped]) })) {
          this.state.apply(m);
          if (this.resumeBy === "token") this.exactly.apply(m);
          // Now and then stop reading for a while, as a slow client does.
          if (this.target === undefined && this.rnd() < 0.03) await new Promise((r) => setTimeout(r, 50 + Math.floor(this.rnd() * 300)));
          if (this.target !== undefined && !m.snapshot && m.revision >= this.target) {
            this.caughtUp();
            return;
          }
          if (this.target === undefined && ++n >= cancelAfter) break;
        }
      } catch (err) {
        if (!abort.signal.aborted && !stopped.aborted) this.failure = err;
        if (err instanceof BrokenContract || (err instanceof Error && /revision went back|never sent ADDED|starts at/.test(err.message))) this.failure = err;
      } finally {
        clearTimeout(cancelTimer);
      }
    }
    if (this.failure !== undefined) this.caughtUp();
  }
}

let queen: Queen | undefined;
afterEach(async () => queen?.close());

describe("Watch under random churn", () => {
  it.each([1, 2])("every restless watcher ends with ListHives' state, each change once across resume_token resumes (seed %i)", async (seed) => {
    const rnd = random(seed * 7919);
    const started = await startTestQueen({ healthyMs: 600_000, degradedMs: 600_000 });
    queen = started.queen;
    const { client } = started;
    const hives = HIVES.map((id) => new SimHive(id, rnd));
    const stop = new AbortController();
    const watcher = (req: WatchInit, by?: "since_revision") => new RestlessWatcher(createClient(QueenService, createApiaryTransport(queen!.url)), req, rnd, by);
    const watchers = [...WATCHERS.map((req) => watcher(req)), watcher(SINCE_REVISION_WATCHER, "since_revision")];
    const running = watchers.map((w) => w.run(stop.signal));
    try {
      for (let step = 0; step < 60; step++) {
        const hive = hives[Math.floor(rnd() * hives.length)];
        if (!hive.conn) {
          hive.conn = await TestHive.connect(queen.url, hive.id);
        } else if (rnd() < 0.05) {
          // Leaves: with goodbye (evicted at once) or cut off (stays, disconnected); comes back later.
          if (rnd() < 0.5) await hive.conn.goodbye();
          else hive.conn.abort();
          hive.conn = undefined;
          if (rnd() < 0.5) hive.workers.clear();
          continue;
        }
        hive.mutate();
        await hive.conn.report(makeReport(0, [], [...hive.workers.values()]));
        if (rnd() < 0.3) await new Promise((r) => setTimeout(r, Math.floor(rnd() * 5)));
      }
      // Every watcher has resumed at least twice before the churn ends (on a loaded machine the
      // churn can be over before a watcher's cancel timers fire).
      await Promise.race([Promise.all(watchers.map((w) => w.resumedTwice)), new Promise((r) => setTimeout(r, 15_000))]);
      // A last change to every worker, read by watchers still cancelling and pausing for a while.
      for (const hive of hives) {
        if (!hive.conn) continue;
        for (const [id, w] of hive.workers) hive.workers.set(id, makeWorker(id, { ...w, cpuPct: (w.cpuPct ?? 0) + 1 }));
        await hive.conn.report(makeReport(0, [], [...hive.workers.values()]));
      }
      await new Promise((r) => setTimeout(r, 500));
      // Quiet: the cut-off streams have ended on the queen too (no change is still to come).
      await waitUntil(() => hives.every((h) => h.conn || !queen!.registry.hive(h.id)?.connected), "cut-off hives disconnected");
      const final = BigInt(queen.registry.revision());
      for (const w of watchers) w.settle(final);
      await Promise.race([Promise.all(watchers.map((w) => w.done)), new Promise((r) => setTimeout(r, 15_000))]);
      expect(BigInt(queen.registry.revision()), "the cluster stayed quiet").toBe(final);
      const listed = (await client.listHives({})).hives;
      for (const w of watchers) {
        expect(w.failure, `${JSON.stringify(w.request)} resumed by ${w.resumeBy}`).toBeUndefined();
        expect(w.state.resumeAt, `${JSON.stringify(w.request)} caught up`).toBe(final);
        expect(stateDifferences(w.state, expectedState(listed, w.request as never)), JSON.stringify(w.request)).toEqual([]);
        expect(w.streams, "cancelled and resumed").toBeGreaterThan(2);
      }
    } finally {
      stop.abort();
      await Promise.allSettled(running);
      for (const h of hives) h.conn?.abort();
    }
  }, 180_000);
});
