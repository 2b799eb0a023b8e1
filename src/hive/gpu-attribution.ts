import type { WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import type { GpuProcessUsage } from "./gpu/merge-gpu-processes.js";
import type { WorkerSample } from "./workers/worker-supervisor.js";

/**
 * Gives each worker the GPU use of its own processes: VRAM and SM % summed over
 * its pids, and the GPUs it is seen on added to those it was given. Costs
 * O(pids + GPU processes). With `measured` false (the probe never succeeded)
 * GPU figures stay unset rather than pretending to be 0.
 */
export function attributeGpuUse(samples: WorkerSample[], processes: GpuProcessUsage[], measured: boolean): WorkerTelemetry[] {
  const ownerByPid = new Map<number, number>();
  samples.forEach((sample, index) => {
    for (const pid of sample.pids) ownerByPid.set(pid, index);
    ownerByPid.set(sample.telemetry.pid, index);
  });
  const byWorker = samples.map(() => [] as GpuProcessUsage[]);
  for (const usage of processes) {
    const owner = ownerByPid.get(usage.pid);
    if (owner !== undefined) byWorker[owner].push(usage);
  }
  return samples.map((sample, index) => withGpuUse(sample.telemetry, byWorker[index], measured));
}

function withGpuUse(telemetry: WorkerTelemetry, usages: GpuProcessUsage[], measured: boolean): WorkerTelemetry {
  const gpuUuids = [...telemetry.gpuUuids];
  for (const usage of usages) {
    if (usage.gpuUuid && !gpuUuids.includes(usage.gpuUuid)) gpuUuids.push(usage.gpuUuid);
  }
  const result: WorkerTelemetry = { ...telemetry, gpuUuids };
  if (!measured || gpuUuids.length === 0) return result;

  let vram = 0n;
  let vramKnown = usages.length === 0;
  const smByGpu = new Map<string, number>();
  for (const usage of usages) {
    if (usage.vramUsedBytes !== undefined) {
      vram += usage.vramUsedBytes;
      vramKnown = true;
    }
    if (usage.smPct !== undefined) smByGpu.set(usage.gpuUuid, (smByGpu.get(usage.gpuUuid) ?? 0) + usage.smPct);
  }
  if (vramKnown) result.vramUsedBytes = vram;
  // 0–100 per GPU: the driver's per-process samples may overlap, so each GPU's sum is capped.
  if (usages.length === 0) result.gpuUtilizationPct = 0;
  else if (smByGpu.size > 0) result.gpuUtilizationPct = [...smByGpu.values()].reduce((sum, pct) => sum + Math.min(100, pct), 0);
  return result;
}
