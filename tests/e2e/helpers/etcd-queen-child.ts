// A queen on etcd in its own process, for the multi-queen suite: argv etcd endpoints, queen id, lease TTL (ms).
import { startQueen } from "../../../src/queen/queen.js";
import { EtcdClusterStore } from "../../../src/queen/cluster/etcd-cluster-store.js";
import { createLogger } from "../../../src/rpc/logger.js";

const [endpoints, queenId, ttl] = process.argv.slice(2);
const logger = createLogger("queen", { level: "info" });
const queen = await startQueen({
  port: 0,
  logger,
  clusterStore: EtcdClusterStore.connect({ endpoints: endpoints.split(","), callTimeoutMs: 2000 }),
  queenId,
  leaseTtlMs: Number(ttl),
  reportIntervalMs: 250,
  healthyMs: 1500,
  degradedMs: 3000,
  evictAfterMs: 3000,
  sweepIntervalMs: 100,
  peerFlushIntervalMs: 100,
});
process.stderr.write(`apiary queen listening on ${queen.url}\n`);
process.on("SIGTERM", () => void queen.close().then(() => process.exit(0)));
