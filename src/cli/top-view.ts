import { engineCells, ENGINE_HEADERS } from "./engine-columns.js";
import { renderTable } from "./table.js";
import { bar, bytes, pct, rate, health, workerState, probeState, ago, DASH } from "./format.js";
import type { ClusterState } from "./cluster-state.js";

/** One frame of `apiary top` as plain text. */
export function renderTop(state: ClusterState, status: string, nowMs = Date.now()): string {
  const hives = [...state.hives.values()].sort((a, b) => (a.info?.hiveId ?? "").localeCompare(b.info?.hiveId ?? ""));
  const workers = [...state.workers.values()].sort(
    (a, b) => a.hiveId.localeCompare(b.hiveId) || a.worker.workerId.localeCompare(b.worker.workerId),
  );
  const out: string[] = [];
  out.push(`apiary top — ${hives.length} hives, ${workers.length} workers, revision ${state.revision}  ${status}\n`);
  out.push("\nHIVES\n");
  out.push(renderTable(
    ["HIVE", "HEALTH", "LAST SEEN", ">GPUS", "GPU PROBE", ">MEM AVAIL", "ENDPOINT"],
    hives.map((h) => [
      h.info?.hiveId ?? "", health(h.health), ago(h.lastSeen, nowMs), String(h.devices.length),
      probeState(h.gpuProbe?.state), bytes(h.memoryAvailableBytes), h.info?.endpoint ?? "",
    ]),
  ));
  out.push("\nGPUS\n");
  const gpuRows: string[][] = [];
  for (const h of hives) {
    for (const d of h.devices) {
      gpuRows.push([
        h.info?.hiveId ?? "", String(d.index), d.name, `[${bar(d.memoryUsedBytes, d.memoryTotalBytes)}]`,
        `${bytes(d.memoryUsedBytes)} / ${bytes(d.memoryTotalBytes)}`, pct(d.utilizationPct),
        d.temperatureC === undefined ? DASH : `${d.temperatureC}C`,
      ]);
    }
  }
  out.push(renderTable(["HIVE", ">GPU", "NAME", "VRAM", ">USED / TOTAL", ">UTIL", ">TEMP"], gpuRows));
  out.push("\nWORKERS\n");
  out.push(renderTable(
    ["HIVE", "WORKER", "MODEL", "STATE", ">CPU", ">MEM", ">READ", ">WRITE", ">GPU", ">VRAM", ...ENGINE_HEADERS],
    workers.map(({ hiveId, worker: w }) => [
      hiveId, w.workerId, w.model || DASH, workerState(w.state), pct(w.cpuPct), bytes(w.memoryRssBytes),
      rate(w.ioReadBytesPerSec), rate(w.ioWriteBytesPerSec), pct(w.gpuUtilizationPct), bytes(w.vramUsedBytes),
      ...engineCells(w),
    ]),
  ));
  return out.join("");
}
