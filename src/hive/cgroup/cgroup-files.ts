import { readFileSync, writeFileSync } from "node:fs";
import { rmdir } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { plainFiles, type FileReader } from "../procfs/held-files.js";
import { CgroupInUseError, cgroupError, errnoText, type CgroupHandle, type RemoveOptions } from "./cgroup-driver.js";
import type { CollectionError } from "../../../gen/apiary/v1/telemetry_pb.js";

/** Writes one cgroup control file; returns an error text instead of throwing. */
export function writeControl(path: string, value: string): string | undefined {
  try {
    writeFileSync(path, value);
    return undefined;
  } catch (err) {
    return `${path}: ${errnoText(err)}`;
  }
}

/** Reads one cgroup file, pushing an error (source "cgroup") when it cannot. */
export function readControl(path: string, errors: CollectionError[], files: FileReader = plainFiles): string | undefined {
  try {
    return files.read(path);
  } catch (err) {
    errors.push(cgroupError(`${path}: ${errnoText(err)}`));
    return undefined;
  }
}

/**
 * Refuses a worker's cgroup directory that already holds processes: they belong to another
 * worker (another hive with the same cgroup parent), and everything in a worker's cgroup is
 * killed when the worker stops.
 */
export function assertCgroupUnused(dir: string): void {
  let text: string;
  try {
    text = readFileSync(`${dir}/cgroup.procs`, "utf8");
  } catch {
    return; // not there yet
  }
  const pids = parsePids(text);
  if (pids.length > 0) throw new CgroupInUseError(dir, pids);
}

export function parsePids(text: string): number[] {
  return text.split("\n").filter((line) => line.trim() !== "").map(Number).filter((pid) => Number.isInteger(pid) && pid > 0);
}

/** The value of `key N` in a flat keyed file (memory.stat, memory.events, cpu.stat, memory.oom_control). */
export function keyedValue(text: string, key: string): bigint | undefined {
  const match = new RegExp(`^${key}\\s+(\\d+)$`, "m").exec(text);
  return match ? BigInt(match[1]) : undefined;
}

/**
 * rmdir of every directory of a handle, retried while the kernel still holds
 * exiting processes in it (EBUSY), for at most `timeoutMs`. A directory that is
 * already gone counts as removed.
 */
export async function removeCgroupDirs(handle: CgroupHandle, options: RemoveOptions = {}): Promise<{ removed: boolean; errors: CollectionError[] }> {
  const deadline = Date.now() + (options.timeoutMs ?? 2000);
  const pending = new Set(Object.values(handle.paths));
  let lastError = "";
  for (;;) {
    for (const dir of [...pending]) {
      try {
        await rmdir(dir);
        pending.delete(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") pending.delete(dir);
        else lastError = `${dir}: ${errnoText(err)}`;
      }
    }
    if (pending.size === 0) return { removed: true, errors: [] };
    if (Date.now() >= deadline) return { removed: false, errors: [cgroupError(`cannot remove cgroup: ${lastError}`)] };
    await sleep(50);
  }
}

/** rmdir of each empty directory; true when none is left (ENOENT counts as gone), false when one still holds groups. */
export async function removeEmptyDirs(dirs: readonly string[]): Promise<boolean> {
  let gone = true;
  for (const dir of dirs) {
    try {
      await rmdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") gone = false;
    }
  }
  return gone;
}
