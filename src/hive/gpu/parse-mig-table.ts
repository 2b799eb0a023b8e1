/**
 * The two MIG parts of nvidia-smi's summary table (a bare `nvidia-smi`), the only place that gives
 * each MIG instance's memory and each process's instance (GPU instance and compute instance ids):
 *
 *   | GPU  GI  CI  MIG |              Shared Memory-Usage | …
 *   |  0    2   0   0  |           11091MiB / 40448MiB    | 60      0 | …
 *   …
 *   |  GPU   GI   CI              PID   Type   Process name                        GPU Memory |
 *   |    0    2    0            21180      C   /root/tools/memhog                     2296MiB |
 *
 * --query-compute-apps names only the physical GPU of a process on a MIG instance.
 */

export interface MigInstanceUsage {
  gpuIndex: number;
  gi: number;
  ci: number;
  /** nvidia-smi -L's "MIG … Device N". */
  migDevice: number;
  usedBytes: bigint;
  totalBytes: bigint;
}

export interface MigProcess {
  gpuIndex: number;
  gi: number;
  ci: number;
  pid: number;
}

export interface MigTable {
  instances: MigInstanceUsage[];
  processes: MigProcess[];
}

const MIB = 1024n * 1024n;
const INSTANCE_ROW = /^\|\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\|\s*(\d+)MiB\s*\/\s*(\d+)MiB\s*\|/;
const PROCESS_ROW = /^\|\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+.*\|\s*$/;

/** Never throws; a table without MIG parts gives empty lists. */
export function parseMigTable(text: string): MigTable {
  const instances: MigInstanceUsage[] = [];
  const processes: MigProcess[] = [];
  let section: "none" | "mig" | "processes" = "none";
  for (const line of text.split("\n")) {
    if (/^\|\s*MIG devices:/.test(line)) section = "mig";
    else if (/^\|\s*Processes:/.test(line)) section = "processes";
    else if (section === "mig") {
      const m = INSTANCE_ROW.exec(line);
      if (m) instances.push({ gpuIndex: +m[1], gi: +m[2], ci: +m[3], migDevice: +m[4], usedBytes: BigInt(m[5]) * MIB, totalBytes: BigInt(m[6]) * MIB });
    } else if (section === "processes") {
      const m = PROCESS_ROW.exec(line);
      if (m) processes.push({ gpuIndex: +m[1], gi: +m[2], ci: +m[3], pid: +m[4] });
    }
  }
  return { instances, processes };
}
