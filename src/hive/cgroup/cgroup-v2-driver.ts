import { mkdir } from "node:fs/promises";
import { readFileSync } from "node:fs";
import type { CollectionError } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { FileReader } from "../procfs/held-files.js";
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

/** Controllers a worker's cgroup needs, in the order they are enabled. */
export const V2_CONTROLLERS = ["memory", "cpu", "pids", "io"] as const;

export interface CgroupTreeOptions {
  /** Mount point of the hierarchy (or a fake tree in tests). */
  root: string;
  /** Path of the hive's parent group below the root, e.g. "apiary". */
  parent: string;
  /** How readStats reads control files (default: readFileSync each time). */
  files?: FileReader;
}

function readControllers(dir: string): string[] | undefined {
  try {
    return readFileSync(`${dir}/cgroup.controllers`, "utf8").trim().split(/\s+/).filter(Boolean);
  } catch {
    return undefined;
  }
}

/**
 * cgroup v2: one directory per worker under `<root>/<parent>/`. The wanted
 * controllers are enabled in the `cgroup.subtree_control` of the root and of
 * every level down to the parent, each time only those the level offers in its
 * own `cgroup.controllers` (a level without that file, as in a fake tree,
 * offers what its parent enabled).
 */
export class CgroupV2Driver implements CgroupDriver {
  readonly mode = "v2" as const;

  constructor(private readonly options: CgroupTreeOptions) {}

  private enableControllers(errors: string[]): Set<string> {
    const levels = [this.options.root];
    for (const part of this.options.parent.split("/").filter(Boolean)) levels.push(`${levels[levels.length - 1]}/${part}`);
    let offered = new Set<string>(readControllers(levels[0]) ?? []);
    for (const level of levels) {
      const own = readControllers(level);
      const available = own ? new Set(own) : offered;
      const wanted = V2_CONTROLLERS.filter((c) => available.has(c));
      const enabled = new Set<string>();
      if (wanted.length > 0 && writeControl(`${level}/cgroup.subtree_control`, wanted.map((c) => `+${c}`).join(" ")) === undefined) {
        wanted.forEach((c) => enabled.add(c));
      } else {
        // One controller that cannot be enabled must not block the others.
        for (const c of wanted) {
          const failure = writeControl(`${level}/cgroup.subtree_control`, `+${c}`);
          if (failure === undefined) enabled.add(c);
          else errors.push(failure);
        }
      }
      offered = enabled;
    }
    return offered;
  }

  async create(workerId: string, limits: CgroupLimits): Promise<CgroupCreation> {
    const parentDir = `${this.options.root}/${this.options.parent}`;
    const dir = `${parentDir}/${workerId}`;
    assertCgroupUnused(dir);
    await mkdir(dir, { recursive: true });
    const enableErrors: string[] = [];
    const enabled = this.enableControllers(enableErrors);
    const errors: CollectionError[] = [];
    const apply = (controller: string, field: string, file: string, value: string): void => {
      if (!enabled.has(controller)) {
        const detail = enableErrors.length > 0 ? `; ${enableErrors.join("; ")}` : "";
        errors.push(cgroupError(`${field}: not enforced: the ${controller} controller is not available in ${parentDir}${detail}`));
        return;
      }
      const failure = writeControl(`${dir}/${file}`, value);
      if (failure) errors.push(cgroupError(`${field}: not enforced: ${failure}`));
    };
    if (limits.memoryMaxBytes !== undefined) apply("memory", "memory_max_bytes", "memory.max", String(limits.memoryMaxBytes));
    if (limits.cpuMaxMillicores !== undefined) {
      apply("cpu", "cpu_max_millicores", "cpu.max", `${cpuQuotaUs(limits.cpuMaxMillicores)} ${CPU_PERIOD_US}`);
    }
    if (limits.pidsMax !== undefined) apply("pids", "pids_max", "pids.max", String(limits.pidsMax));
    return {
      mode: "v2",
      workerId,
      paths: { unified: dir },
      primaryPath: dir,
      procsFiles: [`${dir}/cgroup.procs`],
      enforced: errors.length === 0,
      errors,
    };
  }

  readStats(handle: CgroupHandle): CgroupStats {
    const dir = handle.paths.unified;
    const errors: CollectionError[] = [];
    const stats: CgroupStats = { errors };
    const files = this.options.files;
    const memory = readControl(`${dir}/memory.current`, errors, files);
    if (memory !== undefined && /^\d+\s*$/.test(memory)) stats.memoryBytes = BigInt(memory.trim());
    const cpu = readControl(`${dir}/cpu.stat`, errors, files);
    const usageUsec = cpu === undefined ? undefined : keyedValue(cpu, "usage_usec");
    if (usageUsec !== undefined) stats.cpuUsageNs = usageUsec * 1000n;
    // io.stat is absent when the io controller is not enabled: the caller then counts /proc.
    const io = readOptional(`${dir}/io.stat`, errors);
    if (io !== undefined) Object.assign(stats, parseIoStat(io));
    // Read afresh, as in the v1 driver (where a kept descriptor gives a stale pid list): membership decides what the tick reads.
    const procs = readControl(`${dir}/cgroup.procs`, errors);
    if (procs !== undefined) stats.pids = parsePids(procs);
    const events = readOptional(`${dir}/memory.events`, errors);
    if (events !== undefined) stats.oomKilled = (keyedValue(events, "oom_kill") ?? 0n) > 0n;
    return stats;
  }

  remove(handle: CgroupHandle, options?: RemoveOptions): Promise<{ removed: boolean; errors: CollectionError[] }> {
    return removeCgroupDirs(handle, options);
  }

  removeParent(): Promise<boolean> {
    return this.options.parent === "" ? Promise.resolve(true) : removeEmptyDirs([`${this.options.root}/${this.options.parent}`]);
  }
}

function readOptional(path: string, errors: CollectionError[]): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") errors.push(cgroupError(`${path}: ${errnoText(err)}`));
    return undefined;
  }
}

/** Sums rbytes and wbytes over every device line of io.stat. */
export function parseIoStat(text: string): { ioReadBytes: bigint; ioWriteBytes: bigint } {
  let ioReadBytes = 0n;
  let ioWriteBytes = 0n;
  for (const match of text.matchAll(/\b([rw])bytes=(\d+)/g)) {
    if (match[1] === "r") ioReadBytes += BigInt(match[2]);
    else ioWriteBytes += BigInt(match[2]);
  }
  return { ioReadBytes, ioWriteBytes };
}
