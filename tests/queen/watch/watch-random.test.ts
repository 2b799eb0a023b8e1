import type { MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { afterEach, describe, expect, it } from "vitest";
import { QueenService, WatchKind, type WatchRequestSchema } from "../../../gen/apiary/v1/queen_pb.js";
import type { WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import { waitUntil } from "../../helpers/wait.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { makeReport, makeWorker } from "../helpers/telemetry-builders.js";
import { TestHive } from "../helpers/test-hive.js";
import { expectedState, stateDifferences, WatchedState } from "../helpers/watched-state.js";
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

/** A watcher that cancels itself at random moments and resumes from its last revision. */
class RestlessWatcher {
  readonly state = new WatchedState();
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
      if (++this.streams > 2) this.resumed();
      let n = 0;
      try {
        const request = { ...(this.request as object), bookmarkInterval: ms(100), sinceRevision: this.state.resumeAt, epoch: this.state.epoch } as WatchInit;
        for await (const m of this.client.watch(request, { signal: AbortSignal.any([abort.signal, stopped]) })) {
          this.state.apply(m);
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
        if (err instanceof Error && /revision went back|never sent ADDED|starts at/.test(err.message)) this.failure = err;
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
  it.each([1, 2])("every restless watcher ends with ListHives' state (seed %i)", async (seed) => {
    const rnd = random(seed * 7919);
    const started = await startTestQueen({ healthyMs: 600_000, degradedMs: 600_000 });
    queen = started.queen;
    const { client } = started;
    const hives = HIVES.map((id) => new SimHive(id, rnd));
    const stop = new AbortController();
    const watchers = WATCHERS.map((req) => new RestlessWatcher(createClient(QueenService, createApiaryTransport(queen!.url)), req, rnd));
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
        expect(w.failure, JSON.stringify(w.request)).toBeUndefined();
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
