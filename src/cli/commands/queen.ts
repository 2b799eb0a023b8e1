import { dashboardRoutes } from "../../dashboard/dashboard-routes.js";
import { CliError, UsageError, defineCommand } from "../command.js";
import { intFlag } from "../parse-values.js";
import { logLevelFlag, perDeviceMetricsFlag, queenTuning, queenTuningFlags, serverSecurity, serverSecurityFlags } from "../server-flags.js";
import { createLogger } from "../../common/logger.js";
import { onShutdownSignals } from "../../common/shutdown-signals.js";
import { stallExitFlag, watchEventLoop } from "../stall-watch.js";
import { startQueen } from "../../queen/queen.js";
import { queenClusterFlags, queenClusterOptions } from "./queen-cluster-flags.js";

/** How long a SIGTERM lets the queen close; the watchdog thread ends it a little after, wedged or not. */
const SHUTDOWN_TIMEOUT_MS = 15_000;

export const queenCommand = defineCommand({
  name: "queen",
  summary: "run the queen: registry, liveness, scheduling and watch on one gRPC port",
  usage: "apiary queen [--host H] [--port N] [flags]",
  description: [
    "Serves gRPC (h2c, or h2 with TLS), gRPC-Web and Connect, plus grpc.health.v1 and server reflection, on one port.",
    "Beyond loopback it needs TLS and client authentication (--tls-cert, --tls-key, --client-ca or --token-file),",
    "or --insecure. Hives must present certificates naming their hive id (apiary certs issue --hive ID).",
    "With --etcd it is one of several queens sharing an etcd cluster: each answers for every hive, and takes",
    "over the hives of a queen that dies (see docs/several-queens.md).",
  ].join("\n"),
  flags: [
    { name: "host", type: "string", value: "H", env: "APIARY_QUEEN_HOST", default: "127.0.0.1", help: "address to listen on (0.0.0.0 for every interface)" },
    { name: "port", type: "string", value: "N", env: "APIARY_QUEEN_PORT", default: "7833", help: "port to listen on (0 = any free port)" },
    ...serverSecurityFlags,
    ...queenTuningFlags,
    ...queenClusterFlags,
    perDeviceMetricsFlag,
    stallExitFlag,
    logLevelFlag,
  ],
  async run({ flags, positionals }) {
    if (positionals.length > 0) throw new UsageError(`apiary queen: unexpected argument ${positionals[0]}`);
    const security = serverSecurity(flags);
    const logger = createLogger("queen", { level: flags["log-level"] });
    const cluster = await queenClusterOptions(flags);
    const queen = await startQueen({
      publicRoutes: dashboardRoutes(),
      host: flags.host,
      port: intFlag("port", flags.port, 0, 65535),
      logger,
      ...queenTuning(flags),
      security,
      perDeviceMetrics: flags["metrics-per-device"] === true,
      ...cluster,
    }).catch(async (err: Error) => {
      await cluster.clusterStore?.close().catch(() => {});
      throw new CliError(`queen cannot start: ${err.message}`);
    });
    watchEventLoop(queen.server.health, logger, flags, SHUTDOWN_TIMEOUT_MS);
    // Handlers first: a signal sent as soon as the line is read must find them installed.
    onShutdownSignals(
      async () => {
        await queen.close();
        await cluster.clusterStore?.close();
      },
      { logger, timeoutMs: SHUTDOWN_TIMEOUT_MS },
    );
    const registry = queen.cluster
      ? `cluster cache on etcd, queen ${queen.cluster.queenId}`
      : "in-memory";
    process.stderr.write(`apiary queen listening on ${queen.url} (registry: ${registry}, ${queen.config.shards} shards; epoch ${queen.epoch})\n`);
    return new Promise<number>(() => {});
  },
});
