import { Code, ConnectError } from "@connectrpc/connect";
import type { GpuDevice } from "../../../gen/apiary/v1/telemetry_pb.js";

/**
 * SpawnWorker's gpu_uuids as UUIDs of this hive's GPUs: an entry is a UUID of a probed GPU or
 * its index (as CUDA_VISIBLE_DEVICES takes them); anything else is INVALID_ARGUMENT naming the
 * entry, so a typo never starts a worker on a GPU that does not exist.
 */
export function resolveGpus(requested: readonly string[], devices: readonly GpuDevice[], probeNote: string): string[] {
  const resolved: string[] = [];
  requested.forEach((entry, i) => {
    const device = /^\d+$/.test(entry)
      ? devices.find((d) => d.index === Number(entry))
      : devices.find((d) => d.uuid === entry);
    if (!device) {
      const known = devices.map((d) => `${d.index}=${d.uuid}`).join(", ");
      const what = /^\d+$/.test(entry) ? "GPU index" : "GPU UUID";
      throw new ConnectError(
        `gpu_uuids[${i}]: no ${what} ${entry} on this hive (${known === "" ? `no GPUs: ${probeNote}` : `GPUs: ${known}`})`,
        Code.InvalidArgument,
      );
    }
    if (resolved.includes(device.uuid)) {
      throw new ConnectError(`gpu_uuids[${i}]: GPU ${entry} named twice`, Code.InvalidArgument);
    }
    resolved.push(device.uuid);
  });
  return resolved;
}
