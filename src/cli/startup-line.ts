import type { Hive } from "../hive/hive.js";

/** The human line a hive prints once it listens: where, which queen, which cgroup and GPU mode. */
export function hiveStartupLine(hive: Hive): string {
  const queen = hive.config.queenUrl ? `queen ${hive.config.queenUrl}` : "standalone (no queen)";
  const gpu = hive.config.gpuEnabled ? `GPU probe: ${hive.config.nvidiaSmiPath}` : "GPU probe: off";
  return `apiary hive listening on ${hive.url} (id ${hive.info.hiveId}; ${queen}; cgroups: ${hive.supervisor.cgroupMode}; ${gpu}; state ${hive.config.stateDir})\n`;
}

/** "re-adopted 2 running workers from an earlier run: demo-1, demo-2" */
export function readoptedLine(ids: readonly string[]): string {
  return `re-adopted ${ids.length} running worker${ids.length === 1 ? "" : "s"} from an earlier run: ${ids.join(", ")}\n`;
}
