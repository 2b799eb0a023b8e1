import type { pino } from "pino";
import type { FlagSpec, ParsedArgs } from "./command.js";
import { durationFlag } from "./parse-values.js";
import type { HealthStatus } from "../rpc/health.js";
import { startLoopWatchdog } from "../rpc/loop-watchdog.js";

export const stallExitFlag: FlagSpec = {
  name: "stall-exit-after",
  type: "string",
  value: "DUR",
  env: "APIARY_STALL_EXIT_AFTER",
  default: "30s",
  help: "exit (SIGKILL, for the supervisor to restart) when the event loop has not turned this long; 0 = never. Health is NOT_SERVING after a 2 s stall",
};

/** The server's event-loop watchdog: health NOT_SERVING while stalled, the process ended when stuck. */
export function watchEventLoop(health: HealthStatus, logger: pino.Logger, flags: ParsedArgs["flags"]): void {
  startLoopWatchdog({
    exitAfterMs: durationFlag("stall-exit-after", flags["stall-exit-after"] as string),
    onStall: (stalledMs) => {
      logger.warn({ stalledMs }, "event loop stalled; health NOT_SERVING until it turns freely again");
      health.setStalled(true);
    },
    onRecover: () => {
      logger.info("event loop turns again; health restored");
      health.setStalled(false);
    },
  });
}
