// A server process as `apiary queen` wires it (watchEventLoop, then onShutdownSignals) whose loop
// wedges for good: WEDGE=shutdown blocks inside the SIGTERM handler, WEDGE=before blocks before the
// SIGTERM arrives. Only the watchdog's thread can end it.
import { pino } from "pino";
import { watchEventLoop } from "../../../src/cli/stall-watch.js";
import { onShutdownSignals } from "../../../src/common/shutdown-signals.js";
import { HealthStatus } from "../../../src/rpc/health.js";

function wedge(): never {
  for (;;) {
    // a loop that never yields
  }
}

const logger = pino({ level: "warn" }, pino.destination(2));
const timeoutMs = Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 500);
watchEventLoop(new HealthStatus(), logger, { help: false, "stall-exit-after": process.env.STALL_EXIT_AFTER ?? "0" }, timeoutMs);
onShutdownSignals(
  async () => {
    if (process.env.WEDGE === "shutdown") wedge();
  },
  { logger, timeoutMs },
);
if (process.env.WEDGE === "before") {
  setTimeout(() => {
    process.stdout.write("wedged\n");
    wedge();
  }, 50);
} else {
  process.stdout.write("ready\n");
  setInterval(() => {}, 1000);
}
