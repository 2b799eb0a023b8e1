// /proc files are generated in memory by the kernel: a synchronous read costs microseconds, while
// fs/promises pays for open, read and close on the thread pool (10x the CPU per tick, measured).
import { plainFiles, type FileReader } from "./held-files.js";

/** The fields of /proc/<pid>/stat the hive uses. Times are in clock ticks. */
export interface ProcStat {
  pid: number;
  comm: string;
  /** One letter: R, S, D, Z (zombie), X (dead), T, … */
  state: string;
  ppid: number;
  pgrp: number;
  utimeTicks: number;
  stimeTicks: number;
  /** CPU time of reaped children (they count for the process tree's total). */
  cutimeTicks: number;
  cstimeTicks: number;
  /** Start time after boot; with the pid it identifies a process across pid reuse. */
  startTimeTicks: number;
  rssPages: number;
}

/**
 * Parses one /proc/<pid>/stat line. The comm field is in parentheses and may
 * itself hold spaces and parentheses, so it ends at the LAST ')'.
 * Returns undefined for text that is not a stat line.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 1 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 1).trim().split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  if (!Number.isInteger(pid) || rest.length < 22) return undefined;
  const field = (n: number): number => Number(rest[n - 3]);
  const stat: ProcStat = {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0],
    ppid: field(4),
    pgrp: field(5),
    utimeTicks: field(14),
    stimeTicks: field(15),
    cutimeTicks: field(16),
    cstimeTicks: field(17),
    startTimeTicks: field(22),
    rssPages: field(24),
  };
  const numbers = [stat.ppid, stat.pgrp, stat.utimeTicks, stat.stimeTicks, stat.cutimeTicks, stat.cstimeTicks, stat.startTimeTicks, stat.rssPages];
  return numbers.every(Number.isFinite) ? stat : undefined;
}

/** Reads /proc/<pid>/stat; undefined when the process is gone or the file is unreadable. */
export async function readProcStat(pid: number, procRoot = "/proc", files: FileReader = plainFiles): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(files.read(`${procRoot}/${pid}/stat`));
  } catch {
    return undefined;
  }
}

/** True for a process that has ended but was not reaped yet (it uses no resources). */
export function isDeadState(state: string): boolean {
  return state === "Z" || state === "X" || state === "x";
}
