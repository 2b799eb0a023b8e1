import { readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";

export interface WorkerLogRetention {
  /** Logs of ended workers older than this (by last write) are deleted. */
  maxAgeMs: number;
  /** The most ended workers' logs kept; the oldest go first. */
  maxFiles: number;
}

export const DEFAULT_WORKER_LOG_RETENTION: WorkerLogRetention = { maxAgeMs: 7 * 24 * 3600_000, maxFiles: 1000 };

export interface PruneResult {
  removed: string[];
  errors: string[];
}

/**
 * Deletes `<logDir>/<worker_id>.log` files of workers that no longer run, past the retention, so a
 * hive left running for months does not fill its disk with the logs of every worker it ever ran.
 * The log of a running worker is never touched. Never throws.
 */
export function pruneWorkerLogs(
  logDir: string,
  isRunning: (workerId: string) => boolean,
  retention: WorkerLogRetention,
  nowMs = Date.now(),
): PruneResult {
  const result: PruneResult = { removed: [], errors: [] };
  let names: string[];
  try {
    names = readdirSync(logDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") result.errors.push(`${logDir}: ${String(err)}`);
    return result;
  }
  const ended: { file: string; mtimeMs: number }[] = [];
  for (const name of names) {
    if (!name.endsWith(".log") || isRunning(name.slice(0, -".log".length))) continue;
    const file = path.join(logDir, name);
    try {
      const stat = statSync(file);
      if (stat.isFile()) ended.push({ file, mtimeMs: stat.mtimeMs });
    } catch {
      // deleted meanwhile
    }
  }
  ended.sort((a, b) => b.mtimeMs - a.mtimeMs);
  ended.forEach(({ file, mtimeMs }, i) => {
    if (i < retention.maxFiles && nowMs - mtimeMs <= retention.maxAgeMs) return;
    try {
      rmSync(file, { force: true });
      result.removed.push(file);
    } catch (err) {
      result.errors.push(`${file}: ${String(err)}`);
    }
  });
  return result;
}
