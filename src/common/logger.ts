import { isatty } from "node:tty";
import { pino } from "pino";
import pinoPretty from "pino-pretty";
import { LogFormatError } from "./log-format-error.js";

const LEVELS = new Set(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);
const FORMATS = new Set(["json", "pretty"]);

export type LogFormat = "json" | "pretty";

export interface LoggerOptions {
  /** pino level; default: $APIARY_LOG_LEVEL, else "info". */
  level?: string;
  /** Default: $APIARY_LOG_FORMAT, else "pretty" when the destination is a terminal and "json" otherwise. */
  format?: LogFormat;
  /** A file descriptor or a file path (appended to, its directory created); default 1, stdout. */
  destination?: number | string;
}

export { LogFormatError };

/**
 * The format a daemon logs in: an explicit choice, else $APIARY_LOG_FORMAT, else human-readable
 * lines on a terminal and JSON lines (one object per line, for collectors) everywhere else.
 */
export function resolveLogFormat(destination: number | string, wanted?: string): LogFormat {
  const chosen = (wanted ?? process.env.APIARY_LOG_FORMAT ?? "").trim().toLowerCase();
  if (chosen !== "") {
    if (!FORMATS.has(chosen)) throw new LogFormatError(`APIARY_LOG_FORMAT: expected json or pretty, got ${JSON.stringify(wanted ?? process.env.APIARY_LOG_FORMAT)}`);
    return chosen as LogFormat;
  }
  return typeof destination === "number" && isatty(destination) ? "pretty" : "json";
}

/** A pino logger tagged with the component name, writing JSON or pretty lines (see resolveLogFormat). */
export function createLogger(name: string, opts: LoggerOptions = {}): pino.Logger {
  const wanted = (opts.level ?? process.env.APIARY_LOG_LEVEL ?? "info").trim().toLowerCase();
  const level = LEVELS.has(wanted) ? wanted : "info";
  const dest = opts.destination ?? 1;
  const format = resolveLogFormat(dest, opts.format);
  // Both formats write synchronously from this thread. pino.transport would run pino-pretty in a
  // worker thread, and lines still queued there when a daemon calls process.exit() after
  // "shutdown complete" are lost; a synchronous write is on the fd before the call returns.
  const stream =
    format === "pretty"
      ? pinoPretty({
          destination: dest,
          sync: true,
          mkdir: true,
          colorize: typeof dest === "number" && isatty(dest),
          translateTime: "SYS:HH:MM:ss.l",
          ignore: "pid,hostname",
        })
      : pino.destination({ dest, sync: true, mkdir: true });
  return pino({ name, level, base: { pid: process.pid } }, stream);
}
