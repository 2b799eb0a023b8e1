// A process that shuts down through onShutdownSignals. SHUTDOWN_MODE: "ok" (the handler
// finishes), "hang" (it never does). Prints "ready" once its signal handlers are installed.
import { createLogger } from "../../../src/common/logger.js";
import { onShutdownSignals } from "../../../src/common/shutdown-signals.js";

const mode = process.env.SHUTDOWN_MODE ?? "ok";
const keepAlive = setInterval(() => {}, 60_000);
onShutdownSignals(
  async () => {
    if (mode === "hang") await new Promise<never>(() => {});
    clearInterval(keepAlive);
  },
  { logger: createLogger("signal-child", { level: "silent" }), timeoutMs: Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 500) },
);
process.stdout.write("ready\n");
