import type { DeviceMatch } from "../../../gen/apiary/v1/queen_pb.js";
import { bytes, pct, health, DASH } from "../format.js";
import type { Column } from "./columns.js";
import { gpuHealth } from "../describe/describe-gpu.js";

export const deviceName = (m: DeviceMatch) => `gpu/${m.hiveId}/${m.device?.uuid ?? ""}`;

/** Columns of `apiary devices`, one line each. */
export const deviceColumns: Column<DeviceMatch>[] = [
  { header: "HIVE", value: (m) => m.hiveId },
  { header: "GPU", right: true, value: (m) => String(m.device?.index ?? 0) },
  { header: "NAME", value: (m) => m.device?.name || DASH },
  { header: "UTIL", right: true, value: (m) => pct(m.device?.utilizationPct) },
  { header: "MEMORY", right: true, value: (m) => `${bytes(m.device?.memoryUsedBytes)} / ${bytes(m.device?.memoryTotalBytes)}` },
  { header: "FREE", right: true, value: (m) => bytes(m.freeVramBytes) },
  { header: "TEMP", right: true, value: (m) => (m.device?.temperatureC === undefined ? DASH : `${m.device.temperatureC}C`) },
  { header: "POWER", right: true, value: (m) => (m.device?.powerDrawW === undefined ? DASH : `${Math.round(m.device.powerDrawW)}W`) },
  { header: "WORKERS", value: (m) => m.workerIds.join(",") || DASH },
  { header: "HEALTH", value: (m) => gpuHealth(m.device?.health) },
  { header: "HIVE HEALTH", wide: true, value: (m) => health(m.health) },
  { header: "REASONS", wide: true, value: (m) => m.device?.health?.reasons.join("; ") || DASH },
  { header: "UUID", wide: true, value: (m) => m.device?.uuid || DASH },
  { header: "ENDPOINT", wide: true, value: (m) => m.hiveEndpoint || DASH },
];
