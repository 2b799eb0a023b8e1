import { cpus } from "node:os";
import { createClient, type Client } from "@connectrpc/connect";
import { EventType, QueenService, type HiveStatus, type WatchResponse } from "../../gen/apiary/v1/queen_pb.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { seededRandom } from "../../tests/helpers/seeded-random.js";
import { queenLoopDelay } from "../../tests/hostile/support/queen-loop-delay.js";
import { sleep } from "../lib/args.js";
import { cpuSecondsOf, machineCpuSeconds, MiB, rssBytesOf } from "../lib/proc-stats.js";
import { median } from "../lib/stats.js";
import { GeneratorFleet } from "../lib/generators.js";
import { figureResult, infoResult, type FigureResult } from "../lib/results.js";
import { startQueenServer } from "../lib/servers.js";
import type { FigureContext } from "./context.js";

/**
 * Soak: a queen under `--soak-hives` reporting hives whose number churns (ADDED/REMOVED), watchers
 * that cancel at random and resume from their last resume_token, and one watcher that never
 * reads. Every second: the queen's RSS and its own event-loop delay (p99/max since the previous
 * scrape). Each resuming watcher checks, per object, that no event repeats a change it already
 * had (batch events carry their revision) and that no ADDED comes for an object it holds.
 */
export async function soakFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const minutes = f.num("soak-min", 30);
  const hives = f.num("soak-hives", 1_000);
  const watcherCount = f.num("soak-watchers", 50);
  const rnd = seededRandom(f.num("seed", 19));
  // --soak-history N: the queen's retained Watch history (--watch-history), which decides whether a resume replays or starts over.
  const history = f.num("soak-history", 0);
  const queen = await startQueenServer(history > 0 ? { historySize: history } : {}, ctx.queenStart);
  const fleet = await GeneratorFleet.start(f.num("generators", 2), { target: "apiary", address: queen.address, workers: 8, gpus: 2 });
  const url = `http://${queen.address}`;
  const stop = new AbortController();
  const samples: { s: number; rssMiB: number; p99Ms: number; maxMs: number; queenCores: number; machineBusyCores: number }[] = [];
  try {
    await fleet.scaleTo(hives);
    const watchers = Array.from({ length: watcherCount }, () => new RestlessWatcher(createClient(QueenService, createApiaryTransport(url)), rnd));
    const running = watchers.map((w) => w.run(stop.signal));
    const idle = createClient(QueenService, createApiaryTransport(url)).watch({}, { signal: stop.signal })[Symbol.asyncIterator]();
    await idle.next(); // and never again: its queue coalesces, its stream backs up
    const started = performance.now();
    const revisionAtStart = await registryRevision(url);
    const endAt = started + minutes * 60_000;
    let churnAt = started + 10_000;
    // CPU per window: whether the queen's loop is late because it is saturated, or because the
    // machine is (the generators and the watchers share its cores).
    let cpuAt = { s: performance.now() / 1000, queen: cpuSecondsOf(queen.child.pid!), machine: machineCpuSeconds() };
    while (performance.now() < endAt) {
      await sleep(1_000);
      if (performance.now() >= churnAt) {
        churnAt += 10_000;
        await fleet.scaleTo(Math.round(hives * (0.9 + rnd() * 0.1)));
      }
      const delay = await queenLoopDelay(url);
      const cpuNow = { s: performance.now() / 1000, queen: cpuSecondsOf(queen.child.pid!), machine: machineCpuSeconds() };
      const seconds = cpuNow.s - cpuAt.s;
      const machineBusyCores = ((cpuNow.machine.busy - cpuAt.machine.busy) / (cpuNow.machine.total - cpuAt.machine.total)) * cpus().length;
      samples.push({ s: Math.round((performance.now() - started) / 1000), rssMiB: rssBytesOf(queen.child.pid!) / MiB, p99Ms: delay.p99 * 1000, maxMs: delay.max * 1000, queenCores: (cpuNow.queen - cpuAt.queen) / seconds, machineBusyCores });
      cpuAt = cpuNow;
    }
    const revisionsPerSecond = ((await registryRevision(url)) - revisionAtStart) / ((performance.now() - started) / 1000);
    const settledHives = Math.round(hives * 0.95);
    const reference = await settle(fleet, createClient(QueenService, createApiaryTransport(url)), settledHives);
    stop.abort();
    await Promise.allSettled(running);
    const lost = watchers.reduce((n, w) => n + w.differenceFrom(reference), 0);
    const duplicates = watchers.reduce((n, w) => n + w.duplicates, 0);
    const events = watchers.reduce((n, w) => n + w.events, 0);
    const resumes = watchers.reduce((n, w) => n + w.resumes, 0);
    const snapshots = watchers.reduce((n, w) => n + w.snapshotsAfterResume, 0);
    const slope = rssSlopeMiBPerMin(samples);
    const maxDelay = Math.max(...samples.map((s) => s.maxMs));
    const p99s = samples.map((s) => s.p99Ms).sort((a, b) => a - b);
    ctx.log(`  soak ${minutes} min, ${hives} hives, ${watcherCount} restless watchers + 1 never reading: ${events} events, ${resumes} resumes (${snapshots} started over), ${duplicates} duplicates, ${lost} objects lost or left over against the registry of ${reference.size} objects (${settledHives} hives); RSS ${samples[0]?.rssMiB.toFixed(0)} → ${samples.at(-1)?.rssMiB.toFixed(0)} MiB (${slope.toFixed(2)} MiB/min); loop delay max ${maxDelay.toFixed(0)} ms`);
    const lags = watchers.flatMap((w) => w.resumeLags).sort((a, b) => a - b);
    const lagAt = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? NaN;
    ctx.log(`  resume lag (revisions between a watcher's last message and its resumed stream's first): median ${lagAt(0.5)}, p90 ${lagAt(0.9)}, max ${lags.at(-1) ?? NaN}; the queen's revision rose ${revisionsPerSecond.toFixed(0)}/s during the churn`);
    const resumeResults = [...(await (await fetch(`${url}/metrics`)).text()).matchAll(/^apiary_queen_watch_resumes_total\{result="(\w+)"\} (\d+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    ctx.log(`  the queen's resumes by result (apiary_queen_watch_resumes_total): ${resumeResults.join(", ") || "none"}`);
    const queenCores = median(samples.map((x) => x.queenCores));
    const machineCores = median(samples.map((x) => x.machineBusyCores));
    ctx.log(`  CPU per 1 s window, median: queen ${queenCores.toFixed(2)} cores, machine ${machineCores.toFixed(2)} of ${cpus().length} busy`);
    ctx.extras.soak = samples;
    return [
      figureResult({ figure: "soak", name: "soak: events repeated to a resuming watcher", runs: [duplicates], unit: "events", goal: "0", goalValue: 0, higherIsBetter: false, notes: `${events} events, ${resumes} resumes from resume_token, ${snapshots} of them started over with a snapshot` }),
      figureResult({ figure: "soak", name: "soak: objects lost or left over by a resuming watcher", runs: [lost], unit: "objects", goal: "0", goalValue: 0, higherIsBetter: false, notes: `each watcher's state against the queen's ListHives after the churn settled at ${settledHives} hives (${reference.size} hives and workers)` }),
      figureResult({ figure: "soak", name: "soak: queen event-loop delay, max over the run", runs: [maxDelay], unit: "ms", goal: "< 500 ms", goalValue: 500, higherIsBetter: false, notes: `per-second p99 median ${(p99s[p99s.length >> 1] ?? NaN).toFixed(1)} ms, worst ${(p99s.at(-1) ?? NaN).toFixed(1)} ms` }),
      infoResult("soak", "soak: queen RSS slope", [slope], "MiB/min", `RSS ${samples[0]?.rssMiB.toFixed(0)} → ${samples.at(-1)?.rssMiB.toFixed(0)} MiB over ${minutes} min`),
      infoResult("soak", "soak: queen CPU, median per 1 s window", [queenCores], "cores", `all its threads; the machine's ${cpus().length} cores were ${machineCores.toFixed(2)} busy (median), the generators and the watchers included`),
    ];
  } finally {
    stop.abort();
    await fleet.stop(false).catch(() => {});
    await queen.stop();
  }
}

/**
 * Ends the churn at `hiveCount`, waits until the registry's set of objects is the same in two
 * reads a few seconds apart, and gives every watcher time to resume and catch up (events held
 * back by min_update_interval included): the reference every watcher's state must equal.
 */
async function settle(fleet: GeneratorFleet, client: Client<typeof QueenService>, hiveCount: number): Promise<Set<string>> {
  await fleet.scaleTo(hiveCount);
  let previous = "";
  for (let attempt = 0; attempt < 30; attempt++) {
    await sleep(3_000);
    const keys = registryKeys((await client.listHives({}, { timeoutMs: 30_000 })).hives);
    const joined = [...keys].sort().join("\n");
    if (joined === previous && keys.size > 0) {
      await sleep(8_000);
      return keys;
    }
    previous = joined;
  }
  throw new Error("soak: the registry did not settle within 90 s after the churn ended");
}

async function registryRevision(url: string): Promise<number> {
  const client = createClient(QueenService, createApiaryTransport(url));
  return Number((await client.listHives({ omitWorkers: true }, { timeoutMs: 30_000 })).revision);
}

function registryKeys(hives: HiveStatus[]): Set<string> {
  const keys = new Set<string>();
  for (const h of hives) {
    keys.add(`h/${h.info!.hiveId}`);
    for (const w of h.workers) keys.add(`w/${h.info!.hiveId}/${w.workerId}`);
  }
  return keys;
}

class RestlessWatcher {
  duplicates = 0;
  events = 0;
  resumes = 0;
  snapshotsAfterResume = 0;
  /** Per resume: revisions between the last message read and the first of the resumed stream (how far behind the watcher was). */
  readonly resumeLags: number[] = [];
  private token: Uint8Array = new Uint8Array();
  private lastRevision = 0n;
  private held = new Map<string, bigint>();

  constructor(
    private readonly client: Client<typeof QueenService>,
    private readonly rnd: () => number,
  ) {}

  async run(stopped: AbortSignal): Promise<void> {
    while (!stopped.aborted) {
      const abort = new AbortController();
      // The cancel comes at random once the watcher is live (after its snapshot, or its first
      // message of a resume): a timer from the start would cancel every snapshot of a large fleet
      // before it ends, and the watcher would never hold anything to resume from.
      let timer: NodeJS.Timeout | undefined;
      const armCancel = () => (timer ??= setTimeout(() => abort.abort(), 500 + Math.floor(this.rnd() * 3_000)));
      const resuming = this.token.length > 0;
      let first = true;
      let snapshot: Map<string, bigint> | undefined;
      try {
        const request = { maxBatch: 100, minUpdateInterval: { nanos: 500_000_000 }, resumeToken: this.token };
        for await (const m of this.client.watch(request, { signal: AbortSignal.any([abort.signal, stopped]) })) {
          if (first && resuming) {
            if (m.snapshot) this.snapshotsAfterResume++;
            this.resumeLags.push(Number(m.revision - this.lastRevision));
          }
          first = false;
          if (m.snapshot && m.kind.case !== "snapshotEnd") {
            snapshot ??= new Map();
            for (const e of batchEvents(m)) snapshot.set(e.key, e.revision);
            continue;
          }
          if (m.kind.case === "snapshotEnd") this.held = snapshot ?? new Map();
          for (const e of batchEvents(m)) this.apply(e);
          this.token = m.resumeToken;
          this.lastRevision = m.revision;
          armCancel();
        }
      } catch {
        // cancelled
      } finally {
        clearTimeout(timer);
      }
      if (resuming) this.resumes++;
    }
  }

  /** Objects this watcher holds that the registry does not, plus those it lacks. */
  differenceFrom(reference: Set<string>): number {
    let n = 0;
    for (const key of this.held.keys()) if (!reference.has(key)) n++;
    for (const key of reference) if (!this.held.has(key)) n++;
    return n;
  }

  private apply(e: { key: string; type: EventType; revision: bigint }): void {
    this.events++;
    const last = this.held.get(e.key);
    if ((e.type === EventType.ADDED && last !== undefined) || (last !== undefined && e.revision <= last)) this.duplicates++;
    if (e.type === EventType.REMOVED) this.held.delete(e.key);
    else this.held.set(e.key, e.revision);
  }
}

function batchEvents(m: WatchResponse): { key: string; type: EventType; revision: bigint }[] {
  if (m.kind.case !== "batch") return [];
  return m.kind.value.events.flatMap((e) => {
    if (e.kind.case === "hive") return [{ key: `h/${e.kind.value.hive!.info!.hiveId}`, type: e.kind.value.type, revision: e.revision }];
    if (e.kind.case === "worker") return [{ key: `w/${e.kind.value.hiveId}/${e.kind.value.worker!.workerId}`, type: e.kind.value.type, revision: e.revision }];
    return [];
  });
}

/** Least-squares slope of RSS over time, after the first quarter (warm-up). */
function rssSlopeMiBPerMin(samples: { s: number; rssMiB: number }[]): number {
  const xs = samples.slice(Math.floor(samples.length / 4));
  if (xs.length < 2) return NaN;
  const mx = xs.reduce((a, p) => a + p.s, 0) / xs.length;
  const my = xs.reduce((a, p) => a + p.rssMiB, 0) / xs.length;
  const num = xs.reduce((a, p) => a + (p.s - mx) * (p.rssMiB - my), 0);
  const den = xs.reduce((a, p) => a + (p.s - mx) ** 2, 0);
  return (num / den) * 60;
}
