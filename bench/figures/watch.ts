import type { ChildProcess } from "node:child_process";
import { sleep } from "../lib/args.js";
import { ChildRpc, forkBench, stopChild } from "../lib/children.js";
import { GeneratorFleet } from "../lib/generators.js";
import { figureResult, infoResult, type FigureResult } from "../lib/results.js";
import { startEtcdServer, startQueenServer, type BenchServer } from "../lib/servers.js";
import { median, summarize } from "../lib/stats.js";
import type { WatcherConfig } from "../load/watchers.js";
import type { FigureContext } from "./context.js";

const DEFAULT_WATCH_HIVES = 1_000;
const DEFAULT_HIVES_PER_WATCHER = 1;

interface WatchRun {
  p99s: number[];
  p50: number;
  eventsPerSec: number;
  ackRate: number;
  ackP99: number;
  watcherErrors: number;
  stallRssGrowthMiB: number;
  stallP99: number;
  stallPeakRssGrowthMiB: number;
}

/**
 * Issue 10's row: 1,000 watchers, each following the workers of one hive, while 1,000 hives report
 * at 1 Hz (a load one queen ingests; `--watch-hives`, `--hives-per-watcher` scale it); then
 * one more watcher of everything that stops reading for 60 s: the server's RSS growth and the
 * other watchers' latency meanwhile. The same against etcd (a watch on each watcher's key range).
 */
export async function watchFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const apiary = await watchRun(ctx, "apiary", () => startQueenServer({}, ctx.queenStart));
  const etcd = ctx.flags.bool("no-etcd") ? undefined : await watchRun(ctx, "etcd", startEtcdServer);
  const watchers = f.num("watchers", 1_000);
  const perWatcher = f.num("hives-per-watcher", DEFAULT_HIVES_PER_WATCHER);
  const hives = f.num("watch-hives", DEFAULT_WATCH_HIVES);
  const load = `${watchers} watchers × ${perWatcher} hive${perWatcher === 1 ? "" : "s"}, ${hives} hives at 1 Hz (acked ${apiary.ackRate.toFixed(0)}/s, ack p99 ${apiary.ackP99.toFixed(0)} ms)`;
  const results: FigureResult[] = [
    figureResult({ figure: "watch", name: `Watch: event delivery latency p99, ${watchers.toLocaleString("en-US")} watchers × ${perWatcher} hive${perWatcher === 1 ? "" : "s"} under ${hives.toLocaleString("en-US")} reports/s offered`, runs: apiary.p99s, unit: "ms", goal: "< 250 ms", goalValue: 250, higherIsBetter: false, notes: `${load}; ${apiary.eventsPerSec.toFixed(0)} worker events/s delivered, p50 ${apiary.p50.toFixed(1)} ms` }),
    figureResult({ figure: "watch", name: "Watch: ingest ack p99 with the watchers attached", runs: [apiary.ackP99], unit: "ms", goal: "< 100 ms", goalValue: 100, higherIsBetter: false, notes: `acked ${apiary.ackRate.toFixed(0)} of ${hives} reports/s offered` }),
    figureResult({ figure: "watch", name: "Watch: queen RSS growth with one watcher stalled for the stall period", runs: [apiary.stallRssGrowthMiB], unit: "MiB", goal: "< 32 MiB", goalValue: 32, higherIsBetter: false, notes: `peak growth ${apiary.stallPeakRssGrowthMiB.toFixed(0)} MiB; the stalled watcher watches everything` }),
    figureResult({ figure: "watch", name: "Watch: other watchers' p99 while one is stalled ÷ before", runs: [apiary.stallP99 / median(apiary.p99s)], unit: "", goal: "≤ 1.25 (unchanged within noise)", goalValue: 1.25, higherIsBetter: false, notes: `p99 ${median(apiary.p99s).toFixed(0)} ms before, ${apiary.stallP99.toFixed(0)} ms while stalled` }),
  ];
  if (etcd) {
    results.push(
      infoResult("watch", "etcd watch: event delivery latency p99, same watchers and load", etcd.p99s, "ms", `puts acked ${etcd.ackRate.toFixed(0)}/s (ack p99 ${etcd.ackP99.toFixed(0)} ms); ${etcd.eventsPerSec.toFixed(0)} events/s (one per put)`),
      figureResult({ figure: "watch", name: "apiary ÷ etcd, watch latency p99", runs: [median(apiary.p99s) / median(etcd.p99s)], unit: "", goal: "≤ 1.5", goalValue: 1.5, higherIsBetter: false, notes: "same watchers and load, same run" }),
      infoResult("watch", "etcd RSS growth with one watcher stalled", [etcd.stallRssGrowthMiB], "MiB", `other watchers' p99 while stalled ${etcd.stallP99.toFixed(0)} ms`),
    );
  }
  return results;
}

async function watchRun(ctx: FigureContext, target: "apiary" | "etcd", start: () => Promise<BenchServer>): Promise<WatchRun> {
  const f = ctx.flags;
  const generators = f.num("generators", 2);
  const hives = f.num("watch-hives", DEFAULT_WATCH_HIVES);
  const windows = f.num("runs", 3);
  const windowMs = f.num("watch-window-ms", 8_000);
  const stallMs = f.num("stall-ms", 60_000);
  const cfg: WatcherConfig = { target, address: "", watchers: f.num("watchers", 1_000), hivesPerWatcher: f.num("hives-per-watcher", DEFAULT_HIVES_PER_WATCHER), generators, watchersPerConnection: f.num("watchers-per-connection", 100), sharedHives: f.bool("watch-shared"), maxBatch: f.num("watch-batch", 256) };
  const server = await start();
  cfg.address = server.address;
  let fleet: GeneratorFleet | undefined;
  let child: ChildProcess | undefined;
  try {
    fleet = await GeneratorFleet.start(generators, { target, address: server.address, workers: f.num("workers", 8), gpus: f.num("gpus", 2), hivesPerConnection: f.num("hives-per-connection", 250), client: f.str("client", "raw") === "connect" ? "connect" : "raw" }, ctx.profileDir);
    await fleet.scaleTo(hives);
    child = forkBench("load/watcher-child.ts", [JSON.stringify(cfg)], { nodeFlags: ctx.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${ctx.profileDir}/watchers-${target}`] : [] });
    await ChildRpc.waitFor(child, "ready");
    const watchers = new ChildRpc(child);
    await watchers.call("start", {}, 180_000);
    await sleep(5_000);
    await watchers.call("window");
    await fleet.window();
    const p99s: number[] = [];
    const p50s: number[] = [];
    let events = 0;
    let errors = 0;
    for (let i = 0; i < windows; i++) {
      await sleep(windowMs);
      const w = await watchers.call<{ events: number; errors: number; samples: number[] }>("window");
      const s = summarize(w.samples);
      p99s.push(s.p99);
      p50s.push(s.p50);
      events += w.events;
      errors = w.errors;
      ctx.log(`  ${target} watch window ${i + 1}: ${(w.events / (windowMs / 1000)).toFixed(0)} events/s, p50 ${s.p50.toFixed(1)} ms p99 ${s.p99.toFixed(1)} ms, watcher errors ${w.errors}`);
    }
    const acks = await fleet.window();
    const rss0 = (await server.stats()).rss;
    await watchers.call("stall", {}, 60_000);
    let peak = rss0;
    const stallSamples: number[] = [];
    const stallEnd = Date.now() + stallMs;
    while (Date.now() < stallEnd) {
      await sleep(Math.min(5_000, stallEnd - Date.now()));
      peak = Math.max(peak, (await server.stats()).rss);
    }
    const rss1 = (await server.stats()).rss;
    const during = await watchers.call<{ samples: number[] }>("window");
    stallSamples.push(...during.samples);
    await watchers.call("unstall");
    const stallP99 = summarize(stallSamples).p99;
    ctx.log(`  ${target} stalled watcher ${stallMs / 1000} s: RSS ${(rss0 / 2 ** 20).toFixed(0)} → ${(rss1 / 2 ** 20).toFixed(0)} MiB (peak ${(peak / 2 ** 20).toFixed(0)}), others' p99 ${stallP99.toFixed(1)} ms`);
    await watchers.call("stop").catch(() => {});
    return {
      p99s,
      p50: median(p50s),
      eventsPerSec: events / ((windows * windowMs) / 1000),
      ackRate: acks.ackRate,
      ackP99: acks.latencyMs.p99,
      watcherErrors: errors,
      stallRssGrowthMiB: (rss1 - rss0) / 2 ** 20,
      stallPeakRssGrowthMiB: (peak - rss0) / 2 ** 20,
      stallP99,
    };
  } finally {
    if (child) await stopChild(child, 5_000);
    await fleet?.stop();
    await server.stop();
  }
}
