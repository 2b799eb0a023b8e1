// /proc is in memory: listing it synchronously is far cheaper than through the thread pool.
import { readdirSync } from "node:fs";
import { plainFiles, type FileReader } from "./held-files.js";
import { isDeadState, readProcStat, type ProcStat } from "./proc-stat.js";

/**
 * Every live process of the machine, read once per tick: one walk of /proc,
 * shared by all workers (never one walk per worker). Zombies are left out:
 * they use nothing and are not part of a running worker.
 */
export class ProcessTable {
  private readonly childrenByPid = new Map<number, number[]>();
  private readonly membersByGroup = new Map<number, number[]>();

  constructor(readonly processes: ReadonlyMap<number, ProcStat>) {
    for (const stat of processes.values()) {
      push(this.childrenByPid, stat.ppid, stat.pid);
      push(this.membersByGroup, stat.pgrp, stat.pid);
    }
  }

  get(pid: number): ProcStat | undefined {
    return this.processes.get(pid);
  }

  /** True when `pid` is alive and is the same process that started at `startTimeTicks`. */
  isSameProcess(pid: number, startTimeTicks: number): boolean {
    return this.processes.get(pid)?.startTimeTicks === startTimeTicks;
  }

  /** `pid` and all of its live descendants (pid first). Empty when `pid` is not alive. */
  treeOf(pid: number): number[] {
    if (!this.processes.has(pid)) return [];
    const result: number[] = [];
    const queue = [pid];
    const seen = new Set<number>();
    while (queue.length > 0) {
      const next = queue.shift()!;
      if (seen.has(next)) continue;
      seen.add(next);
      result.push(next);
      for (const child of this.childrenByPid.get(next) ?? []) queue.push(child);
    }
    return result;
  }

  /** Live members of a process group. */
  groupMembers(pgid: number): number[] {
    return this.membersByGroup.get(pgid) ?? [];
  }
}

function push(map: Map<number, number[]>, key: number, value: number): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * Walks `procRoot` once. A process that vanishes between the directory listing
 * and the read of its stat, or whose stat is unreadable, is left out; it never
 * fails the walk.
 */
export async function scanProcessTable(procRoot = "/proc"): Promise<ProcessTable> {
  const names = readdirSync(procRoot);
  return readProcessTable(names.filter((name) => /^\d+$/.test(name)).map(Number), procRoot);
}

/**
 * A table of only the given processes (those that are alive): enough when every worker lives in
 * a cgroup whose member list names its processes, without reading every process of the machine.
 */
export async function readProcessTable(pids: Iterable<number>, procRoot = "/proc", files: FileReader = plainFiles): Promise<ProcessTable> {
  pids = [...new Set(pids)];
  const stats = await Promise.all((pids as number[]).map((pid) => readProcStat(pid, procRoot, files)));
  const processes = new Map<number, ProcStat>();
  for (const stat of stats) if (stat && !isDeadState(stat.state)) processes.set(stat.pid, stat);
  return new ProcessTable(processes);
}
