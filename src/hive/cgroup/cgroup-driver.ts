import { create } from "@bufbuild/protobuf";
import { CollectionErrorSchema, type CollectionError } from "../../../gen/apiary/v1/telemetry_pb.js";

export type CgroupMode = "v2" | "v1" | "none";

/** Limits to apply; unset = no limit. */
export interface CgroupLimits {
  memoryMaxBytes?: bigint;
  /** 1000 = one core. */
  cpuMaxMillicores?: number;
  pidsMax?: number;
}

/** A worker's cgroup(s). Plain JSON: it is kept in the worker's state file for re-adoption. */
export interface CgroupHandle {
  mode: CgroupMode;
  workerId: string;
  /** Directory per controller ("unified" for v2); empty for mode "none". */
  paths: Record<string, string>;
  /** The directory reported as the worker's cgroup_path; "" without a cgroup. */
  primaryPath: string;
  /** Every cgroup.procs file the worker's first process must join before it execs. */
  procsFiles: string[];
}

export interface CgroupCreation extends CgroupHandle {
  /** True when every requested limit was written. */
  enforced: boolean;
  /** Why a limit could not be applied (source "cgroup"). */
  errors: CollectionError[];
}

/** Counters of a worker's cgroup; a field is absent when its file could not be read. */
export interface CgroupStats {
  memoryBytes?: bigint;
  /** Cumulative CPU time of every process that ever ran in the cgroup. */
  cpuUsageNs?: bigint;
  /** Cumulative storage bytes; absent where the cgroup cannot attribute them (see the v1 driver). */
  ioReadBytes?: bigint;
  ioWriteBytes?: bigint;
  pids?: number[];
  /** True once the kernel OOM-killed a process of the cgroup. */
  oomKilled?: boolean;
  errors: CollectionError[];
}

export interface RemoveOptions {
  /** How long to retry rmdir while exiting processes drain; default 2000 ms. */
  timeoutMs?: number;
}

export interface CgroupDriver {
  readonly mode: CgroupMode;
  /** Throws CgroupInUseError when the worker's directory holds processes already. */
  create(workerId: string, limits: CgroupLimits): Promise<CgroupCreation>;
  /** Never throws; unreadable files become errors. */
  readStats(handle: CgroupHandle): CgroupStats;
  /** Removes the worker's cgroup directories. Never throws; true when they are gone. */
  remove(handle: CgroupHandle, options?: RemoveOptions): Promise<{ removed: boolean; errors: CollectionError[] }>;
  /**
   * Removes the hive's own parent group (only its last level: "apiary/<hive_id>", never "apiary")
   * when it is empty. Never throws; false while it still holds a group (a worker left running).
   */
  removeParent(): Promise<boolean>;
}

/** A worker's cgroup directory exists and holds processes of another worker. */
export class CgroupInUseError extends Error {
  constructor(
    readonly dir: string,
    readonly pids: number[],
  ) {
    super(`cgroup ${dir} already holds processes of another worker (pids ${pids.slice(0, 5).join(", ")}); is another hive using the same cgroup parent?`);
    this.name = "CgroupInUseError";
  }
}

export function cgroupError(message: string): CollectionError {
  return create(CollectionErrorSchema, { source: "cgroup", message });
}

export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ? `${e.code}${e.message ? ` (${e.message})` : ""}` : String(err);
}

/** True when at least one limit is set. */
export function hasLimits(limits: CgroupLimits): boolean {
  return limits.memoryMaxBytes !== undefined || limits.cpuMaxMillicores !== undefined || limits.pidsMax !== undefined;
}

/** CFS period used for cpu limits (µs); quota = millicores × period / 1000. */
export const CPU_PERIOD_US = 100_000;

export function cpuQuotaUs(millicores: number): number {
  return Math.max(1000, Math.round((millicores * CPU_PERIOD_US) / 1000));
}
