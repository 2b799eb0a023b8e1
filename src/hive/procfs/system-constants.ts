import { execFileSync } from "node:child_process";

export interface SystemConstants {
  /** Clock ticks per second (utime, stime, starttime in /proc/<pid>/stat). */
  clockTicksPerSec: number;
  /** Bytes per memory page (rss in /proc/<pid>/stat). */
  pageSizeBytes: number;
}

let cached: SystemConstants | undefined;

function getconf(name: string, fallback: number): number {
  try {
    const value = Number(execFileSync("getconf", [name], { encoding: "utf8", timeout: 5000 }).trim());
    return Number.isInteger(value) && value > 0 ? value : fallback;
  } catch {
    return fallback;
  }
}

/** CLK_TCK and PAGESIZE, asked of `getconf` once per process (Linux defaults if it cannot answer). */
export function systemConstants(): SystemConstants {
  cached ??= { clockTicksPerSec: getconf("CLK_TCK", 100), pageSizeBytes: getconf("PAGESIZE", 4096) };
  return cached;
}
