import type { Flags } from "../lib/args.js";

/** What every figure gets from the runner. */
export interface FigureContext {
  flags: Flags;
  /** Where CPU profiles go when --profile is given; undefined otherwise. */
  profileDir: string | undefined;
  log(message: string): void;
  /** How to start the queen: CPU profile dir and --queen-node-flags. */
  queenStart: { cpuProfileDir?: string; nodeFlags?: string[] };
  /** Extra data a figure wants in latest.json (curves, raw points). */
  extras: Record<string, unknown>;
}
