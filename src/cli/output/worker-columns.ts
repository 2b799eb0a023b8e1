import type { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import type { WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { bytes, pct, rate, health, workerState, labels, DASH } from "../format.js";
import type { Column } from "./columns.js";
import { engineCells, ENGINE_HEADERS } from "../engine-columns.js";

/** A worker with what the queen knows around it (FindWorkers' WorkerMatch is one; top builds them from Watch). */
export interface WorkerRow {
  hiveId: string;
  worker: WorkerTelemetry;
  freeVramBytes?: bigint;
  health?: HiveHealth;
  hiveEndpoint?: string;
}

/** `-o name` of a worker: what `apiary stop` accepts. */
export const workerName = (r: WorkerRow) => `worker/${r.hiveId}/${r.worker.workerId}`;

/**
 * Columns of `apiary workers`; `apiary top` shows the same ones except `listOnly` ones.
 * One line per column: add new ones where they belong in the order.
 */
export const workerColumns: Column<WorkerRow>[] = [
  { header: "HIVE", value: (r) => r.hiveId },
  { header: "WORKER", value: (r) => r.worker.workerId },
  { header: "MODEL", value: (r) => r.worker.model || DASH },
  { header: "STATE", value: (r) => workerState(r.worker.state) },
  { header: "PID", right: true, listOnly: true, value: (r) => String(r.worker.pid) },
  { header: "CPU", right: true, value: (r) => pct(r.worker.cpuPct) },
  { header: "MEM", right: true, value: (r) => bytes(r.worker.memoryRssBytes) },
  { header: "READ", right: true, value: (r) => rate(r.worker.ioReadBytesPerSec) },
  { header: "WRITE", right: true, value: (r) => rate(r.worker.ioWriteBytesPerSec) },
  { header: "GPU", right: true, value: (r) => pct(r.worker.gpuUtilizationPct) },
  { header: "VRAM", right: true, value: (r) => bytes(r.worker.vramUsedBytes) },
  { header: "FREE VRAM", right: true, listOnly: true, value: (r) => bytes(r.freeVramBytes) },
  ...ENGINE_HEADERS.map((h, i): Column<WorkerRow> => ({ header: h.replace(/^>/, ""), right: true, value: (r) => engineCells(r.worker)[i] })),
  { header: "HEALTH", listOnly: true, value: (r) => (r.health === undefined ? DASH : health(r.health)) },
  { header: "REASON", value: (r) => r.worker.reason || DASH },
  { header: "LABELS", wide: true, value: (r) => labels(r.worker.labels) },
  { header: "GPU UUIDS", wide: true, value: (r) => r.worker.gpuUuids.join(",") || DASH },
  { header: "ENDPOINT", wide: true, value: (r) => r.hiveEndpoint || DASH },
];
