import type { HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import { ago, bytes, health, labels, probeState, DASH } from "../format.js";
import type { Column } from "./columns.js";

export const hiveName = (h: HiveStatus) => `hive/${h.info?.hiveId ?? ""}`;

/** Columns of `apiary hives`; `apiary top` shows the same ones except `listOnly` ones. One line each. */
export const hiveColumns: Column<HiveStatus>[] = [
  { header: "HIVE", value: (h) => h.info?.hiveId ?? "" },
  { header: "HEALTH", value: (h) => health(h.health) },
  { header: "LAST SEEN", value: (h) => ago(h.lastSeen) },
  { header: "GPUS", right: true, value: (h) => String(h.devices.length) },
  { header: "WORKERS", right: true, value: (h) => String(h.workers.length) },
  { header: "GPU PROBE", value: (h) => probeState(h.gpuProbe?.state) },
  { header: "MEM AVAIL", right: true, value: (h) => bytes(h.memoryAvailableBytes) },
  { header: "ENDPOINT", value: (h) => h.info?.endpoint || DASH },
  { header: "CGROUPS", listOnly: true, value: (h) => h.info?.cgroupMode || DASH },
  { header: "VERSION", listOnly: true, value: (h) => h.info?.version || DASH },
  { header: "LABELS", value: (h) => labels(h.info?.labels ?? {}) },
  { header: "QUEEN", wide: true, value: (h) => h.ownerQueenId || DASH },
  { header: "HOSTNAME", wide: true, value: (h) => h.info?.hostname || DASH },
  { header: "GPU UUIDS", wide: true, value: (h) => h.devices.map((d) => d.uuid).join(",") || DASH },
];
