import { sleep, type Flags } from "../lib/args.js";
import { GeneratorFleet } from "../lib/generators.js";
import type { BenchServer } from "../lib/servers.js";
import type { FigureContext } from "./context.js";

/** One offered load and what came of it. */
export interface IngestPoint {
  target: string;
  hives: number;
  /** Reports per second offered (hives ÷ interval). */
  offered: number;
  /** Acks per second received. */
  ackRate: number;
  p50: number;
  p99: number;
  skipped: number;
  streamErrors: number;
  /** CPU cores used by the server and by the generators during the window. */
  serverCpu: number;
  generatorCpu: number;
  serverRssMiB: number;
}

export interface SweepOptions {
  target: "apiary" | "etcd";
  label: string;
  server: BenchServer;
  steps: number[];
  generators: number;
  intervalMs: number;
  warmupMs: number;
  measureMs: number;
  workers: number;
  gpus: number;
  hivesPerConnection: number;
  client: "raw" | "connect";
  /** Send-on-change hives (see ClusterShape.changeFraction); unset: full reports. */
  changeFraction?: number;
  /**
   * After the warm-up, wait (up to this long, in 1 s windows) until the acks no longer run ahead
   * of the offered rate: a fleet that just connected has the queen catching up on hellos and first
   * reports for seconds, which a CPU-per-report figure must not count. Unset: no wait.
   */
  backlogSettleMs?: number;
  /** Called after each measured window (e.g. to check the queen's log). */
  onPoint?: (point: IngestPoint) => void;
}

/** Sweep options of a fleet at 1 Hz on the raw gRPC client, from the figure's flags, measured after the connect backlog drained. */
export function openLoopAt1Hz(f: Flags): Omit<SweepOptions, "target" | "label" | "server" | "steps"> {
  return {
    generators: f.num("generators", 2),
    intervalMs: 1_000,
    warmupMs: f.num("warmup-ms", 4_000),
    measureMs: f.num("measure-ms", 8_000),
    workers: f.num("workers", 8),
    gpus: f.num("gpus", 2),
    hivesPerConnection: f.num("hives-per-connection", 250),
    client: "raw",
    backlogSettleMs: f.num("backlog-settle-ms", 30_000),
  };
}

/** A report met the ack goal at this point: p99 under the goal and (almost) every offered report acked. */
export function sustained(point: IngestPoint, p99GoalMs: number): boolean {
  return point.p99 < p99GoalMs && point.ackRate >= 0.95 * point.offered && point.skipped === 0;
}

/**
 * Offers a rising load (more hives at the same interval) to one server and measures each step
 * after a warm-up. Stops early once the server is saturated (p99 over 2 s or under 70 % acked).
 */
export async function ingestSweep(ctx: FigureContext, opts: SweepOptions): Promise<IngestPoint[]> {
  const fleet = await GeneratorFleet.start(
    opts.generators,
    { target: opts.target, address: opts.server.address, intervalMs: opts.intervalMs, workers: opts.workers, gpus: opts.gpus, hivesPerConnection: opts.hivesPerConnection, client: opts.client, changeFraction: opts.changeFraction },
    ctx.profileDir,
  );
  const points: IngestPoint[] = [];
  try {
    for (const hives of opts.steps) {
      await fleet.scaleTo(hives);
      await sleep(opts.warmupMs);
      await fleet.window();
      if (opts.backlogSettleMs) await backlogDrained(ctx, fleet, (hives * 1000) / opts.intervalMs, opts.backlogSettleMs);
      const before = await opts.server.stats();
      await sleep(opts.measureMs);
      const w = await fleet.window();
      const after = await opts.server.stats();
      const point: IngestPoint = {
        target: opts.label,
        hives,
        offered: (hives * 1000) / opts.intervalMs,
        ackRate: w.ackRate,
        p50: w.latencyMs.p50,
        p99: w.latencyMs.p99,
        skipped: w.skipped,
        streamErrors: w.streamErrors,
        serverCpu: (after.cpuSeconds - before.cpuSeconds) / w.seconds,
        generatorCpu: w.generatorCpu,
        serverRssMiB: after.rss / 1024 / 1024,
      };
      points.push(point);
      opts.onPoint?.(point);
      ctx.log(
        `  ${opts.label} ${hives} hives: offered ${point.offered.toFixed(0)}/s, acked ${point.ackRate.toFixed(0)}/s, ack p50 ${point.p50.toFixed(1)} ms p99 ${point.p99.toFixed(1)} ms, skipped ${point.skipped}, server CPU ${point.serverCpu.toFixed(2)}, generators CPU ${point.generatorCpu.toFixed(2)}, server RSS ${point.serverRssMiB.toFixed(0)} MiB`,
      );
      if (point.p99 > 2_000 || point.ackRate < 0.7 * point.offered) break;
    }
  } finally {
    await fleet.stop();
  }
  return points;
}

/** Waits until a 1 s window acks no more than 110 % of the offered rate, for at most `maxMs`. */
async function backlogDrained(ctx: FigureContext, fleet: GeneratorFleet, offered: number, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  for (let waited = 0; ; waited++) {
    await sleep(1_000);
    const w = await fleet.window();
    if (w.ackRate <= 1.1 * offered) return;
    if (Date.now() >= deadline) {
      ctx.log(`    backlog still draining after ${waited + 1} s (acked ${w.ackRate.toFixed(0)}/s of ${offered.toFixed(0)}/s offered); measuring anyway`);
      return;
    }
  }
}
