import type { GpuDevice } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { ComputeAppEntry } from "./parse-compute-apps.js";
import type { PmonEntry } from "./parse-pmon.js";
import { compareIds } from "../../common/compare-ids.js";

/** One process on one GPU: VRAM from --query-compute-apps, SM % from pmon. */
export interface GpuProcessUsage {
  pid: number;
  gpuUuid: string;
  vramUsedBytes?: bigint;
  smPct?: number;
}

/**
 * Joins compute-apps (keyed by GPU uuid) and pmon (keyed by GPU index) per (pid, GPU).
 * pmon rows whose GPU index is not among `devices` are dropped.
 */
export function mergeGpuProcesses(
  devices: readonly GpuDevice[],
  apps: readonly ComputeAppEntry[],
  pmon: readonly PmonEntry[],
): GpuProcessUsage[] {
  const uuidByIndex = new Map(devices.map((d) => [d.index, d.uuid]));
  const byKey = new Map<string, GpuProcessUsage>();
  const entry = (pid: number, gpuUuid: string): GpuProcessUsage => {
    const key = `${pid}|${gpuUuid}`;
    let usage = byKey.get(key);
    if (!usage) {
      usage = { pid, gpuUuid };
      byKey.set(key, usage);
    }
    return usage;
  };
  for (const app of apps) {
    if (app.pid === undefined) continue;
    const usage = entry(app.pid, app.gpuUuid);
    if (app.usedMemoryBytes !== undefined) {
      usage.vramUsedBytes = (usage.vramUsedBytes ?? 0n) + app.usedMemoryBytes;
    }
  }
  for (const row of pmon) {
    const uuid = uuidByIndex.get(row.gpuIndex);
    if (!uuid) continue;
    const usage = entry(row.pid, uuid);
    if (row.smPct !== undefined) usage.smPct = row.smPct;
  }
  return [...byKey.values()].sort((a, b) => a.pid - b.pid || compareIds(a.gpuUuid, b.gpuUuid));
}
