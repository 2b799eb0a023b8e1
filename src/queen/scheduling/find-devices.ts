import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  DeviceMatchSchema,
  DeviceOrder,
  FindDevicesResponseSchema,
  type FindDevicesRequest,
  type FindDevicesResponse,
} from "../../../gen/apiary/v1/queen_pb.js";
import type { GpuDevice } from "../../../gen/apiary/v1/telemetry_pb.js";
import { MAX_MATCHES } from "../../contracts/find-workers-query.js";
import { candidateHives } from "./hive-filter.js";
import type { HiveView, RegistryReadView } from "../registry/registry.js";
import { deviceFreeVram, isUnhealthyGpu } from "../../contracts/scheduling-entry.js";
import { compareKnownFirst, selectTop } from "../../common/top-k.js";
import { compareIds as compareStrings } from "../../common/compare-ids.js";

interface Candidate {
  hive: HiveView;
  device: GpuDevice;
  free: bigint | undefined;
}


function comparator(order: DeviceOrder): (a: Candidate, b: Candidate) => number {
  const byId = (a: Candidate, b: Candidate) => compareStrings(a.hive.hiveId, b.hive.hiveId) || a.device.index - b.device.index;
  switch (order) {
    case DeviceOrder.MOST_FREE_VRAM:
      return (a, b) => compareKnownFirst(a.free === undefined ? undefined : -a.free, b.free === undefined ? undefined : -b.free) || byId(a, b);
    case DeviceOrder.LEAST_UTILIZED:
      return (a, b) => compareKnownFirst(a.device.utilizationPct, b.device.utilizationPct) || byId(a, b);
    default:
      return byId;
  }
}

/** Answers FindDevices over a validated request. */
export function findDevices(registry: RegistryReadView, req: FindDevicesRequest): FindDevicesResponse {
  const filter = { hiveIds: req.hiveIds, hiveLabels: req.hiveLabels, includeDegraded: req.includeDegraded };
  const maxUtil = req.maxUtilizationPct;
  let total = 0;
  function* matches(): Iterable<Candidate> {
    for (const hive of candidateHives(registry, filter)) {
      for (const device of hive.devices) {
        if (!req.includeUnhealthyGpus && isUnhealthyGpu(device)) continue;
        // A GPU with MIG enabled runs work only in its instances, which are offered as devices of their own.
        if (device.migModeCurrent === true) continue;
        const free = deviceFreeVram(device);
        if (req.minFreeVramBytes > 0n && (free === undefined || free < req.minFreeVramBytes)) continue;
        if (maxUtil !== undefined && (device.utilizationPct === undefined || device.utilizationPct > maxUtil)) continue;
        total++;
        yield { hive, device, free };
      }
    }
  }
  const limit = req.limit === 0 || req.limit > MAX_MATCHES ? MAX_MATCHES : req.limit;
  const top = selectTop(matches(), limit, comparator(req.order));
  return create(FindDevicesResponseSchema, {
    matches: top.map((c) =>
      create(DeviceMatchSchema, {
        hiveId: c.hive.hiveId,
        device: c.device,
        freeVramBytes: c.free,
        health: c.hive.health,
        lastSeen: timestampFromMs(c.hive.lastSeenWallMs),
        workerIds: workersOnDevice(c.hive, c.device.uuid),
        hiveEndpoint: c.hive.info.endpoint,
      }),
    ),
    totalMatches: total,
    revision: BigInt(registry.revision()),
  });
}

function workersOnDevice(hive: HiveView, uuid: string): string[] {
  const ids: string[] = [];
  for (const worker of hive.workers.values()) if (worker.gpuUuids.includes(uuid)) ids.push(worker.workerId);
  return ids.sort();
}
