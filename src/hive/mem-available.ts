import { readFile } from "node:fs/promises";

/** MemAvailable from /proc/meminfo in bytes; throws when it cannot be read. */
export async function readMemAvailableBytes(meminfoPath = "/proc/meminfo"): Promise<bigint> {
  const text = await readFile(meminfoPath, "utf8");
  const match = /^MemAvailable:\s+(\d+)\s*kB$/m.exec(text);
  if (!match) throw new Error(`${meminfoPath}: no MemAvailable line`);
  return BigInt(match[1]) * 1024n;
}
