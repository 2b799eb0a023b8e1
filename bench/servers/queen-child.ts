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
const queen = await startQueen({ ...options, host: "127.0.0.1", port: 0, logger, shutdownGraceMs: 1_000 });

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

serveChildRpc({
  stats: () => {
    const mem = process.memoryUsage();
    const backlog = queen.hub.stats();
    return {
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      cpuSeconds: cpuSecondsOf(process.pid),
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
