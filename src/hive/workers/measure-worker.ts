import { create } from "@bufbuild/protobuf";
import { CollectionErrorSchema, type CollectionError } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { CgroupDriver, CgroupHandle, CgroupStats } from "../cgroup/cgroup-driver.js";
import { plainFiles, type FileReader } from "../procfs/held-files.js";
import { readProcIo } from "../procfs/proc-io.js";
import type { ProcessTable } from "../procfs/process-table.js";
import { systemConstants } from "../procfs/system-constants.js";
import { rememberPids, workerPids, type WorkerIdentity } from "./process-tree.js";

/** One reading of a worker: cumulative counters (rates are made from two of them) and gauges. */
export interface Measurement {
  pids: number[];
  memoryBytes?: bigint;
  cpuNs?: bigint;
  ioReadBytes?: bigint;
  ioWriteBytes?: bigint;
  oomKilled: boolean;
  errors: CollectionError[];
}

function procfsError(message: string): CollectionError {
  return create(CollectionErrorSchema, { source: "procfs", message });
}

/**
 * Measures one worker. The cgroup's counters are used where it has them (they
 * also count processes that already exited); otherwise sums over the worker's
 * processes from /proc. Those sums include the times and I/O of children the
 * processes reaped (cutime/cstime, and /proc/<pid>/io accumulates them), so a
 * child that ends inside the tree does not make the total drop.
 * Never throws: every failing source becomes an error of this worker only.
 */
export async function measureWorker(
  table: ProcessTable,
  who: WorkerIdentity,
  driver: CgroupDriver,
  handle: CgroupHandle,
  procRoot: string,
  /** The cgroup's counters when the caller has read them already this tick. */
  cgroupStats?: CgroupStats,
  files: FileReader = plainFiles,
): Promise<Measurement> {
  const stats = handle.mode === "none" ? { errors: [] as CollectionError[] } : (cgroupStats ?? driver.readStats(handle));
  const errors = [...stats.errors];
  const cgroupPids = "pids" in stats ? stats.pids : undefined;
  const pids = workerPids(table, { ...who, cgroupPids: () => cgroupPids });
  rememberPids(table, who, pids);
  const { clockTicksPerSec, pageSizeBytes } = systemConstants();
  const m: Measurement = { pids, errors, oomKilled: "oomKilled" in stats ? stats.oomKilled === true : false };

  let rssPages = 0;
  let cpuTicks = 0;
  for (const pid of pids) {
    const stat = table.get(pid);
    if (!stat) continue;
    rssPages += stat.rssPages;
    cpuTicks += stat.utimeTicks + stat.stimeTicks + stat.cutimeTicks + stat.cstimeTicks;
  }
  m.memoryBytes = "memoryBytes" in stats && stats.memoryBytes !== undefined ? stats.memoryBytes : BigInt(rssPages) * BigInt(pageSizeBytes);
  // No fallback to /proc when a cgroup's CPU counter fails: mixing sources would make a false rate.
  if (handle.mode !== "none") m.cpuNs = "cpuUsageNs" in stats ? stats.cpuUsageNs : undefined;
  else m.cpuNs = (BigInt(cpuTicks) * 1_000_000_000n) / BigInt(clockTicksPerSec);

  if ("ioReadBytes" in stats && stats.ioReadBytes !== undefined && stats.ioWriteBytes !== undefined) {
    m.ioReadBytes = stats.ioReadBytes;
    m.ioWriteBytes = stats.ioWriteBytes;
  } else {
    const ios = await Promise.all(pids.map((pid) => readProcIo(pid, procRoot, files)));
    let read = 0;
    let write = 0;
    let failed = false;
    ios.forEach((result, i) => {
      if (result.ok) {
        read += result.io.readBytes;
        write += result.io.writeBytes;
      } else if (!result.error.endsWith("ENOENT") && !result.error.endsWith("ESRCH")) {
        // A process that ended since the walk just stops counting; anything else is an error.
        failed = true;
        errors.push(procfsError(`pid ${pids[i]}: ${result.error}`));
      }
    });
    if (!failed) {
      m.ioReadBytes = BigInt(read);
      m.ioWriteBytes = BigInt(write);
    }
  }
  return m;
}
