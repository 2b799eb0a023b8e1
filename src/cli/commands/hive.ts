import { CliError, UsageError, defineCommand } from "../command.js";
import { DEFAULT_QUEEN } from "../common-flags.js";
import { logLevelFlag, serverSecurity, serverSecurityFlags } from "../server-flags.js";
import { hiveIdentity, hiveIdentityFlags, hiveRuntime, hiveRuntimeFlags } from "../hive-flags.js";
import { hiveStartupLine } from "../startup-line.js";
import { createLogger } from "../../common/logger.js";
import { onShutdownSignals } from "../../common/shutdown-signals.js";
import { stallExitFlag, watchEventLoop } from "../stall-watch.js";
import { startHive } from "../../hive/hive.js";

/** How long a SIGTERM lets the hive close (its workers may take a while to stop). */
const SHUTDOWN_TIMEOUT_MS = 30_000;

export const hiveCommand = defineCommand({
  name: "hive",
  summary: "run a hive: start, stop and measure workers on this machine, report to the queen",
  usage: "apiary hive --queen http://HOST:PORT[,…] [--port N] [--id NAME] [--label k=v]… [flags]",
  description: [
    "Workers keep running when the hive stops (a restarted hive re-adopts them);",
    "--stop-workers stops them with the hive.",
    "With several queens (--queen a,b,c, or a name with several DNS records) the hive reports to one",
    "and moves to the next at once when its stream breaks or its hello is refused.",
  ].join("\n"),
  flags: [
    { name: "queen", type: "string", value: "ADDR", env: "APIARY_QUEEN", default: DEFAULT_QUEEN, help: "queen to report to; several: a,b,c (the hive fails over between them)" },
    { name: "standalone", type: "boolean", help: "run without a queen (HiveService only)" },
    ...hiveIdentityFlags,
    ...serverSecurityFlags,
    ...hiveRuntimeFlags,
    { name: "stop-workers", type: "boolean", env: "APIARY_STOP_WORKERS", help: "stop every worker when the hive stops" },
    stallExitFlag,
    logLevelFlag,
  ],
  async run({ flags, positionals }) {
    if (positionals.length > 0) throw new UsageError(`apiary hive: unexpected argument ${positionals[0]}`);
    const logger = createLogger("hive", { level: flags["log-level"] });
    const hive = await startHive({
      queenUrl: flags.standalone ? undefined : flags.queen,
      ...hiveIdentity(flags),
      security: serverSecurity(flags),
      ...hiveRuntime(flags),
      logger,
    }).catch((err: Error) => {
      throw new CliError(`hive cannot start: ${err.message}`);
    });
    watchEventLoop(hive.server.health, logger, flags, SHUTDOWN_TIMEOUT_MS);
    // Handlers first: a signal sent as soon as the line is read must find them installed.
    onShutdownSignals(() => hive.close({ stopWorkers: flags["stop-workers"] === true }), { logger, timeoutMs: SHUTDOWN_TIMEOUT_MS });
    process.stderr.write(hiveStartupLine(hive));
    return new Promise<number>(() => {});
  },
});
