import { readFileSync } from "node:fs";

/**
 * True while the process exists and is not a zombie. This machine's pid 1 does not reap
 * orphans, so a killed grandchild can stay a zombie forever: dead, yet `kill -0` succeeds on it.
 */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}
