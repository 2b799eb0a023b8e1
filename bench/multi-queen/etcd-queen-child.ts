import { pino } from "pino";
import { EtcdClusterStore } from "../../src/queen/cluster/etcd-cluster-store.js";
import { startQueen } from "../../src/queen/queen.js";
import { exitWithParent, serveChildRpc } from "../lib/children.js";
import { cpuSecondsOf } from "../lib/proc-stats.js";

/**
 * One of several queens for the multi-queen figure: `startQueen` on an EtcdClusterStore (what
 * `apiary queen --etcd` runs), on 127.0.0.1 and a free port, every other setting at its default
 * unless the bench passes one. Answers `stats` (RSS, CPU, hives, the store's write counters).
 */
interface QueenChildConfig {
  endpoints: string[];
  queenId: string;
  leaseTtlMs?: number;
  peerFlushIntervalMs?: number;
}
const config = JSON.parse(process.argv[2] ?? "{}") as QueenChildConfig;
const logger = pino({ name: "queen", level: process.env.APIARY_LOG_LEVEL ?? "warn" });
const store = EtcdClusterStore.connect({ endpoints: config.endpoints });
const queen = await startQueen({
  host: "127.0.0.1",
  port: 0,
  logger,
  shutdownGraceMs: 1_000,
  clusterStore: store,
  queenId: config.queenId,
  ...(config.leaseTtlMs !== undefined ? { leaseTtlMs: config.leaseTtlMs } : {}),
  ...(config.peerFlushIntervalMs !== undefined ? { peerFlushIntervalMs: config.peerFlushIntervalMs } : {}),
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

serveChildRpc({
  stats: () => ({
    rss: process.memoryUsage().rss,
    cpuSeconds: cpuSecondsOf(process.pid),
    hives: queen.registry.hiveCount(),
    workers: queen.registry.workerCount(),
    ...store.counters,
  }),
});
process.send?.({ type: "ready", address: queen.url.replace(/^https?:\/\//, ""), queenId: config.queenId });
