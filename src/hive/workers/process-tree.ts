import { setTimeout as sleep } from "node:timers/promises";
import type { ProcessTable } from "../procfs/process-table.js";
import { scanProcessTable } from "../procfs/process-table.js";

/** Who belongs to a worker, as far as the hive can tell. */
export interface WorkerIdentity {
  pid: number;
  startTimeTicks: number;
  /** Process group (= pid: workers start in their own session). */
  pgid: number;
  /** Pids seen in earlier ticks with their start times: they still count if reparented. */
  knownPids: Map<number, number>;
  /** Members of the worker's cgroup, if it has one. */
  cgroupPids: () => number[] | undefined;
}

/**
 * Every live process of a worker: the main process and its descendants, the
 * members of its process group and of its cgroup, and processes seen before
 * that are still the same processes (reparented orphans). Zombies are dead.
 */
export function workerPids(table: ProcessTable, who: WorkerIdentity): number[] {
  const pids = new Set<number>();
  if (table.isSameProcess(who.pid, who.startTimeTicks)) for (const pid of table.treeOf(who.pid)) pids.add(pid);
  for (const pid of table.groupMembers(who.pgid)) pids.add(pid);
  for (const pid of who.cgroupPids() ?? []) if (table.get(pid)) pids.add(pid);
  for (const [pid, start] of who.knownPids) if (table.isSameProcess(pid, start)) pids.add(pid);
  for (const pid of [...pids]) for (const descendant of table.treeOf(pid)) pids.add(descendant);
  return [...pids].sort((a, b) => a - b);
}

/** Remembers the start time of each pid, dropping those no longer in the worker. */
export function rememberPids(table: ProcessTable, who: WorkerIdentity, pids: number[]): void {
  who.knownPids.clear();
  for (const pid of pids) {
    const stat = table.get(pid);
    if (stat) who.knownPids.set(pid, stat.startTimeTicks);
  }
}

/** Signals the process group and every process of the worker; a process already gone is no error. */
export function signalPids(pgid: number, pids: number[], signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // group empty or gone
  }
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Polls /proc until no process of the worker is alive, for at most `timeoutMs`.
 * Returns the pids still alive at the end (empty = the whole tree is gone).
 */
export async function waitTreeGone(who: WorkerIdentity, timeoutMs: number, procRoot = "/proc", pollMs = 50): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const table = await scanProcessTable(procRoot);
    const alive = workerPids(table, who);
    rememberPids(table, who, alive);
    if (alive.length === 0 || Date.now() >= deadline) return alive;
    await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
  }
}
