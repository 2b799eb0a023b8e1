import { pino } from "pino";
import { startQueen } from "../../src/queen/queen.js";
import { EtcdClusterStore } from "../../src/queen/cluster/etcd-cluster-store.js";
import { exitWithParent, serveChildRpc } from "../lib/children.js";

/**
 * A queen on etcd in its own process for the multi-queen figure: argv JSON { etcd, queenId,
 * leaseTtlMs }. Answers `counters` (the etcd client's KV writes and lease keep-alives) over IPC.
 */
const { etcd, queenId, leaseTtlMs } = JSON.parse(process.argv[2] ?? "{}") as { etcd: string[]; queenId: string; leaseTtlMs: number };
const logger = pino({ name: "queen", level: process.env.APIARY_LOG_LEVEL ?? "warn" });
const store = EtcdClusterStore.connect({ endpoints: etcd });
const queen = await startQueen({ host: "127.0.0.1", port: 0, logger, shutdownGraceMs: 1_000, clusterStore: store, queenId, leaseTtlMs });

exitWithParent();
process.once("SIGTERM", () => void queen.close().finally(() => process.exit(0)));
serveChildRpc({ counters: () => ({ ...store.client.counters }) });
process.send?.({ type: "ready", url: queen.url });
