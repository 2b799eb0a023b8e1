import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import type { CgroupHandle } from "../cgroup/cgroup-driver.js";
import type { RestartState } from "./restart-policy.js";

/** What a hive keeps on disk about a worker it spawned, to re-adopt it after a restart. */
export interface WorkerStateFile {
  version: 1;
  workerId: string;
  pid: number;
  /** Start time of the pid (ticks after boot): guards against pid reuse. */
  startTimeTicks: number;
  startedAtMs: number;
  argv: string[];
  /** The path exec'd (the real path when an allow-list judged it); absent in files of older hives. */
  program?: string;
  model: string;
  labels: Record<string, string>;
  gpuUuids: string[];
  limits: { memoryMaxBytes?: string; cpuMaxMillicores?: number; pidsMax?: number };
  enforced: boolean;
  /** Why limits are not enforced (CollectionError messages, source "cgroup"). */
  limitErrors: string[];
  cgroup: CgroupHandle;
  logPath: string;
  /** Restart policy and what a restart needs; absent = never restarted (and in files of older hives). */
  restart?: RestartState;
  /** Where the worker's engine serves Prometheus metrics; "" = not scraped. Absent in files of older hives. */
  engineMetricsUrl?: string;
}

export function stateDirOfWorkers(stateDir: string): string {
  return `${stateDir}/workers`;
}

export function stateFilePath(stateDir: string, workerId: string): string {
  return `${stateDirOfWorkers(stateDir)}/${workerId}.json`;
}

/** Written to a temporary name and renamed, so a crash never leaves half a file. */
export async function writeWorkerState(stateDir: string, state: WorkerStateFile): Promise<void> {
  await mkdir(stateDirOfWorkers(stateDir), { recursive: true });
  const path = stateFilePath(stateDir, state.workerId);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2), { mode: 0o600 }); // it may hold the worker's environment
  await rename(tmp, path);
}

export async function deleteWorkerState(stateDir: string, workerId: string): Promise<void> {
  await rm(stateFilePath(stateDir, workerId), { force: true });
}

export type LoadedState = { ok: true; state: WorkerStateFile; path: string } | { ok: false; path: string; error: string };

/** Every state file in the directory; unreadable ones are returned as errors, not thrown. */
export async function loadWorkerStates(stateDir: string): Promise<LoadedState[]> {
  let names: string[];
  try {
    names = await readdir(stateDirOfWorkers(stateDir));
  } catch {
    return [];
  }
  const results: LoadedState[] = [];
  for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
    const path = `${stateDirOfWorkers(stateDir)}/${name}`;
    try {
      const state = JSON.parse(await readFile(path, "utf8")) as WorkerStateFile;
      if (state.version !== 1 || typeof state.workerId !== "string" || !Number.isInteger(state.pid) || typeof state.cgroup !== "object") {
        throw new Error("not a worker state file");
      }
      results.push({ ok: true, state, path });
    } catch (err) {
      results.push({ ok: false, path, error: String(err) });
    }
  }
  return results;
}
