import { existsSync, realpathSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import type { CollectionError } from "../../../gen/apiary/v1/telemetry_pb.js";
import {
  cgroupError,
  cpuQuotaUs,
  CPU_PERIOD_US,
  errnoText,
  type CgroupCreation,
  type CgroupDriver,
  type CgroupHandle,
  type CgroupLimits,
  type CgroupStats,
  type RemoveOptions,
} from "./cgroup-driver.js";
import { assertCgroupUnused, keyedValue, parsePids, readControl, removeCgroupDirs, removeEmptyDirs, writeControl } from "./cgroup-files.js";
import type { CgroupTreeOptions } from "./cgroup-v2-driver.js";

/** Hierarchies a worker joins. blkio only for membership: see readStats. */
export const V1_CONTROLLERS = ["memory", "cpu", "cpuacct", "pids", "blkio"] as const;

/**
 * cgroup v1: one directory per worker in each controller hierarchy,
 * `<root>/<controller>/<parent>/<worker_id>`. Co-mounted hierarchies (cpu,cpuacct)
 * are joined once.
 */
export class CgroupV1Driver implements CgroupDriver {
  readonly mode = "v1" as const;

  constructor(private readonly options: CgroupTreeOptions) {}

  async create(workerId: string, limits: CgroupLimits): Promise<CgroupCreation> {
    const paths: Record<string, string> = {};
    const procsFiles: string[] = [];
    const mountSeen = new Map<string, string>();
    const missing = new Map<string, string>();
    for (const controller of V1_CONTROLLERS) assertCgroupUnused(`${this.options.root}/${controller}/${this.options.parent}/${workerId}`);
    for (const controller of V1_CONTROLLERS) {
      const mount = `${this.options.root}/${controller}`;
      if (!existsSync(`${mount}/cgroup.procs`)) {
        missing.set(controller, `${mount} is not a mounted cgroup hierarchy`);
        continue;
      }
      const real = realpathSync(mount);
      const dir = `${mount}/${this.options.parent}/${workerId}`;
      paths[controller] = mountSeen.get(real) ?? dir;
      if (mountSeen.has(real)) continue;
      try {
        await mkdir(dir, { recursive: true });
        mountSeen.set(real, dir);
        procsFiles.push(`${dir}/cgroup.procs`);
      } catch (err) {
        delete paths[controller];
        missing.set(controller, `${dir}: ${errnoText(err)}`);
      }
    }
    const errors: CollectionError[] = [];
    const apply = (controller: string, field: string, writes: Array<[string, string]>): void => {
      const dir = paths[controller];
      if (!dir) {
        errors.push(cgroupError(`${field}: not enforced: ${missing.get(controller)}`));
        return;
      }
      for (const [file, value] of writes) {
        const failure = writeControl(`${dir}/${file}`, value);
        if (failure) {
          errors.push(cgroupError(`${field}: not enforced: ${failure}`));
          return;
        }
      }
    };
    if (limits.memoryMaxBytes !== undefined) apply("memory", "memory_max_bytes", [["memory.limit_in_bytes", String(limits.memoryMaxBytes)]]);
    if (limits.cpuMaxMillicores !== undefined) {
      apply("cpu", "cpu_max_millicores", [
        ["cpu.cfs_period_us", String(CPU_PERIOD_US)],
        ["cpu.cfs_quota_us", String(cpuQuotaUs(limits.cpuMaxMillicores))],
      ]);
    }
    if (limits.pidsMax !== undefined) apply("pids", "pids_max", [["pids.max", String(limits.pidsMax)]]);
    return {
      mode: "v1",
      workerId,
      paths,
      primaryPath: paths.memory ?? Object.values(paths)[0] ?? "",
      procsFiles,
      enforced: errors.length === 0,
      errors,
    };
  }

  /**
   * Memory is usage_in_bytes minus total_inactive_file (as docker reports it):
   * inactive page cache is reclaimable and not the worker's working set.
   * Storage I/O is not read from blkio: v1 charges buffered writeback to the
   * root group, so the worker's writes would read as 0; the caller sums
   * /proc/<pid>/io instead.
   */
  readStats(handle: CgroupHandle): CgroupStats {
    const errors: CollectionError[] = [];
    const stats: CgroupStats = { errors };
    const memoryDir = handle.paths.memory;
    const files = this.options.files;
    if (memoryDir) {
      const usage = readControl(`${memoryDir}/memory.usage_in_bytes`, errors, files);
      const memStat = readControl(`${memoryDir}/memory.stat`, errors, files);
      if (usage !== undefined && /^\d+\s*$/.test(usage)) {
        const inactive = (memStat === undefined ? undefined : keyedValue(memStat, "total_inactive_file")) ?? 0n;
        const used = BigInt(usage.trim()) - inactive;
        stats.memoryBytes = used > 0n ? used : 0n;
      }
      const oom = readControl(`${memoryDir}/memory.oom_control`, errors, files);
      if (oom !== undefined) stats.oomKilled = (keyedValue(oom, "oom_kill") ?? 0n) > 0n;
    }
    const cpuacctDir = handle.paths.cpuacct;
    if (cpuacctDir) {
      const usage = readControl(`${cpuacctDir}/cpuacct.usage`, errors, files);
      if (usage !== undefined && /^\d+\s*$/.test(usage)) stats.cpuUsageNs = BigInt(usage.trim());
    }
    const anyDir = memoryDir ?? Object.values(handle.paths)[0];
    if (anyDir) {
      // Not through a kept descriptor: v1 keeps a pid list per open file for a while, so a re-read can be stale.
      const procs = readControl(`${anyDir}/cgroup.procs`, errors);
      if (procs !== undefined) stats.pids = parsePids(procs);
    }
    return stats;
  }

  remove(handle: CgroupHandle, options?: RemoveOptions): Promise<{ removed: boolean; errors: CollectionError[] }> {
    return removeCgroupDirs(handle, options);
  }

  removeParent(): Promise<boolean> {
    return this.options.parent === "" ? Promise.resolve(true) : removeEmptyDirs(V1_CONTROLLERS.map((c) => `${this.options.root}/${c}/${this.options.parent}`));
  }
}
