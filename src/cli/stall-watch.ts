import type { pino } from "pino";
import type { FlagSpec, FlagValues } from "./command.js";
import { durationFlag } from "./parse-values.js";
import type { HealthStatus } from "../rpc/health.js";
import { startLoopWatchdog, type LoopWatchdog } from "../rpc/loop-watchdog.js";

export const stallExitFlag = {
  name: "stall-exit-after",
  type: "string",
  value: "DUR",
  env: "APIARY_STALL_EXIT_AFTER",
  default: "30s",
  help: "exit (SIGKILL, for the supervisor to restart) when the event loop has not turned this long; 0 = never. Health is NOT_SERVING after a 2 s stall",
} as const satisfies FlagSpec;

/** Beyond the shutdown's own timeout: the JavaScript timer gets the first chance to end it cleanly. */
const SHUTDOWN_DEADLINE_SLACK_MS = 2_000;

/**
 * The server's event-loop watchdog: health NOT_SERVING while stalled, the process ended when
 * stuck, and, from the first SIGINT/SIGTERM the loop handles, gone within shutdownTimeoutMs (plus
 * a slack) even if the shutdown itself wedges the loop. A SIGTERM that arrives while the loop is
 * already wedged cannot run any JavaScript (Node delivers signals to the main thread's loop only,
 * never to a worker's): the stall bound (--stall-exit-after, counted from when the loop stopped)
 * ends that process.
 */
export function watchEventLoop(health: HealthStatus, logger: pino.Logger, flags: FlagValues<readonly [typeof stallExitFlag]>, shutdownTimeoutMs = 30_000): LoopWatchdog {
  const watchdog = startLoopWatchdog({
    exitAfterMs: durationFlag("stall-exit-after", flags["stall-exit-after"]),
    onStall: (stalledMs) => {
      logger.warn({ stalledMs }, "event loop stalled; health NOT_SERVING until it turns freely again");
      health.setStalled(true);
    },
    onRecover: () => {
      logger.info("event loop turns again; health restored");
      health.setStalled(false);
    },
  });
  const arm = () => watchdog.armShutdownDeadline(shutdownTimeoutMs + SHUTDOWN_DEADLINE_SLACK_MS);
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, arm);
  return watchdog;
}
