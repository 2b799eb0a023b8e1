import { pino } from "pino";

const LEVELS = new Set(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);

export interface LoggerOptions {
  /** pino level; default: $APIARY_LOG_LEVEL, else "info". */
  level?: string;
}

/** A pino logger writing JSON lines to stdout, tagged with the component name. */
export function createLogger(name: string, opts: LoggerOptions = {}): pino.Logger {
  const wanted = (opts.level ?? process.env.APIARY_LOG_LEVEL ?? "info").trim().toLowerCase();
  const level = LEVELS.has(wanted) ? wanted : "info";
  return pino({ name, level, base: { pid: process.pid } });
}
