import type { CollectionError } from "../../../gen/apiary/v1/telemetry_pb.js";
import { cgroupError, hasLimits, type CgroupCreation, type CgroupDriver, type CgroupLimits, type CgroupStats } from "./cgroup-driver.js";

/** No usable cgroups: workers run unconfined, limits are reported not enforced, stats come from /proc. */
export class NoCgroupDriver implements CgroupDriver {
  readonly mode = "none" as const;

  async create(workerId: string, limits: CgroupLimits): Promise<CgroupCreation> {
    const errors: CollectionError[] = hasLimits(limits)
      ? [cgroupError("limits not enforced: no usable cgroup hierarchy on this machine")]
      : [];
    return { mode: "none", workerId, paths: {}, primaryPath: "", procsFiles: [], enforced: errors.length === 0, errors };
  }

  readStats(): CgroupStats {
    return { errors: [] };
  }

  async remove(): Promise<{ removed: boolean; errors: CollectionError[] }> {
    return { removed: true, errors: [] };
  }

  async removeParent(): Promise<boolean> {
    return true;
  }
}
