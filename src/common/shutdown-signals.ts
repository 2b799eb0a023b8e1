import type { pino } from "pino";

export interface ShutdownSignalOptions {
  logger: pino.Logger;
  /** After this long the process exits with 1 even if the handler has not finished. */
  timeoutMs: number;
  /** For tests; default process.exit. */
  exit?: (code: number) => void;
}

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM"];

/**
 * On the first SIGINT/SIGTERM runs handler and exits 0 when it is done, 1 if it fails
 * or outlasts timeoutMs; a second signal exits at once with 1. Returns a function
 * that removes the signal listeners.
 */
export function onShutdownSignals(handler: () => Promise<void>, opts: ShutdownSignalOptions): () => void {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let shuttingDown = false;

  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      opts.logger.warn({ signal }, "second signal, exiting now");
      exit(1);
      return;
    }
    shuttingDown = true;
    opts.logger.info({ signal, timeoutMs: opts.timeoutMs }, "shutting down");
    const timer = setTimeout(() => {
      opts.logger.error({ timeoutMs: opts.timeoutMs }, "shutdown timed out, exiting");
      exit(1);
    }, opts.timeoutMs);
    handler().then(
      () => {
        clearTimeout(timer);
        opts.logger.info("shutdown complete");
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        opts.logger.error({ err }, "shutdown failed");
        exit(1);
      },
    );
  };

  for (const signal of SIGNALS) process.on(signal, onSignal);
  return () => {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
}
