import { constants } from "node:fs";
import { access, statfs } from "node:fs/promises";
import type { CgroupMode } from "./cgroup-driver.js";

const CGROUP2_SUPER_MAGIC = 0x63677270;
export const V1_REQUIRED_CONTROLLERS = ["memory", "cpu", "cpuacct", "pids"] as const;

async function exists(path: string, mode = constants.F_OK): Promise<boolean> {
  try {
    await access(path, mode);
    return true;
  } catch {
    return false;
  }
}

/**
 * "v2" when `root` is a cgroup2 mount (or, for fake trees in tests, holds a
 * cgroup.controllers file); "v1" when the memory, cpu, cpuacct and pids
 * hierarchies are mounted under it and writable; else "none".
 */
export async function detectCgroupMode(root = "/sys/fs/cgroup"): Promise<CgroupMode> {
  try {
    if ((await statfs(root)).type === CGROUP2_SUPER_MAGIC) return "v2";
  } catch {
    return "none";
  }
  if (await exists(`${root}/cgroup.controllers`)) return "v2";
  for (const controller of V1_REQUIRED_CONTROLLERS) {
    const dir = `${root}/${controller}`;
    if (!(await exists(`${dir}/cgroup.procs`)) || !(await exists(dir, constants.W_OK))) return "none";
  }
  return "v1";
}
