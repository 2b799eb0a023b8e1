import { clone, create } from "@bufbuild/protobuf";
import { GpuDeviceSchema, GpuHealthSchema, type GpuDevice } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { GpuProcessUsage } from "./merge-gpu-processes.js";
import type { ListedGpu } from "./parse-list-gpus.js";
import type { MigTable } from "./parse-mig-table.js";

/**
 * Each MIG instance of a MIG-enabled GPU as its own schedulable device: uuid "MIG-…" and profile
 * from `nvidia-smi -L`, memory from the summary table's MIG part, the physical GPU as parent_uuid.
 * An instance shares its GPU's bus, ECC and Xids, so it carries the GPU's health verdict. Utilisation,
 * temperature and power are the GPU's, not the instance's: they stay on the parent only.
 */
export function migDevices(parents: readonly GpuDevice[], listed: readonly ListedGpu[], table: MigTable): GpuDevice[] {
  const out: GpuDevice[] = [];
  for (const parent of parents) {
    if (parent.migModeCurrent !== true) continue;
    const gpu = listed.find((g) => g.uuid === parent.uuid);
    for (const mig of gpu?.migDevices ?? []) {
      const usage = table.instances.find((i) => i.gpuIndex === parent.index && i.migDevice === mig.index);
      out.push(
        create(GpuDeviceSchema, {
          index: parent.index,
          uuid: mig.uuid,
          name: `${parent.name} MIG ${mig.profile}`,
          parentUuid: parent.uuid,
          migProfile: mig.profile,
          pciBusId: parent.pciBusId,
          computeCapability: parent.computeCapability,
          memoryTotalBytes: usage?.totalBytes,
          memoryUsedBytes: usage?.usedBytes,
          health: parent.health ? clone(GpuHealthSchema, parent.health) : undefined,
        }),
      );
    }
  }
  return out;
}

/**
 * Moves processes that --query-compute-apps put on a MIG-enabled GPU to their instance, by the
 * (GPU, GI, CI) the summary table gives them. Processes the table does not place stay on the GPU.
 */
export function placeMigProcesses(processes: readonly GpuProcessUsage[], parents: readonly GpuDevice[], listed: readonly ListedGpu[], table: MigTable): GpuProcessUsage[] {
  const instanceOf = new Map<string, string>(); // `${gpuIndex}|${pid}` → MIG uuid
  for (const p of table.processes) {
    const inst = table.instances.find((i) => i.gpuIndex === p.gpuIndex && i.gi === p.gi && i.ci === p.ci);
    const parent = parents.find((d) => d.index === p.gpuIndex);
    const mig = inst && listed.find((g) => g.uuid === parent?.uuid)?.migDevices.find((m) => m.index === inst.migDevice);
    if (mig) instanceOf.set(`${p.gpuIndex}|${p.pid}`, mig.uuid);
  }
  const indexOf = new Map(parents.map((d) => [d.uuid, d.index]));
  return processes.map((p) => {
    const uuid = instanceOf.get(`${indexOf.get(p.gpuUuid)}|${p.pid}`);
    return uuid ? { ...p, gpuUuid: uuid } : p;
  });
}
