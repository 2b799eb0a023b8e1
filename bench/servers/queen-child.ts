import { monitorEventLoopDelay } from "node:perf_hooks";
import { pino } from "pino";
import { startQueen, type StartQueenOptions } from "../../src/queen/queen.js";
import { exitWithParent, serveChildRpc } from "../lib/children.js";
import { cpuSecondsOf } from "../lib/proc-stats.js";

/**
 * A queen in its own process for the bench, on 127.0.0.1 and a free port. Logs (pino JSON, info)
 * go to stdout, where the bench reads health changes and stall warnings. Answers `stats` (RSS,
 * CPU seconds, registry sizes, watcher backlog) over IPC.
 */
const options = JSON.parse(process.argv[2] ?? "{}") as Partial<StartQueenOptions>;
const logger = pino({ name: "queen", level: process.env.APIARY_LOG_LEVEL ?? "info" });
// A simulated fleet comes from one address: the per-peer caps of a real queen would stop it.
const fleetOnLoopback = { maxConnectionsPerPeer: 1_000_000, maxConnections: 1_000_000, maxStreamsPerPeer: 1_000_000 };
const queen = await startQueen({
  ...options,
  security: { ...options.security, limits: { ...fleetOnLoopback, ...options.security?.limits } },
  host: "127.0.0.1",
  port: 0,
  logger,
  shutdownGraceMs: 1_000,
});

let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  await queen.close().catch(() => {});
  process.exit(0);
}
exitWithParent();
process.once("SIGTERM", () => void shutdown());
process.once("SIGINT", () => void shutdown());

// APIARY_BENCH_LOOP_DELAY=1: logs the event loop's delay (p50/p99/max, ms) every 5 s, to tell loop stalls from CPU starvation.
if (process.env.APIARY_BENCH_LOOP_DELAY === "1") {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  setInterval(() => {
    const ms = (ns: number) => Math.round(ns / 1e5) / 10;
    logger.info({ loopDelayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) } }, "event loop delay");
    delay.reset();
  }, 5_000).unref();
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > 100) logger.info({ atMs: Math.round(last), gapMs: Math.round(now - last) }, "event loop gap");
    last = now;
  }, 10).unref();
}

serveChildRpc({
  stats: () => {
    const mem = process.memoryUsage();
    const backlog = queen.hub.stats();
    return {
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      cpuSeconds: cpuSecondsOf(process.pid),
      // Microseconds (getrusage), finer than /proc's 10 ms ticks.
      cpuUsageUs: (({ user, system }) => user + system)(process.cpuUsage()),
      hives: queen.registry.hiveCount(),
      workers: queen.registry.workerCount(),
      revision: queen.registry.revision(),
      watchers: backlog.length,
      maxPending: backlog.reduce((m, s) => Math.max(m, s.pending), 0),
    };
  },
  async stop() {
    setImmediate(() => void shutdown());
    return {};
  },
});
process.send?.({ type: "ready", address: queen.url.replace(/^https?:\/\//, ""), epoch: queen.epoch });
