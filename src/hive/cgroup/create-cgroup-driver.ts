import type { CgroupDriver, CgroupMode } from "./cgroup-driver.js";
import { CgroupV1Driver } from "./cgroup-v1-driver.js";
import { CgroupV2Driver, type CgroupTreeOptions } from "./cgroup-v2-driver.js";
import { NoCgroupDriver } from "./no-cgroup-driver.js";

export function createCgroupDriver(mode: CgroupMode, tree: CgroupTreeOptions): CgroupDriver {
  switch (mode) {
    case "v2":
      return new CgroupV2Driver(tree);
    case "v1":
      return new CgroupV1Driver(tree);
    case "none":
      return new NoCgroupDriver();
  }
}
