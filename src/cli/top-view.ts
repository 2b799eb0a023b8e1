import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { HiveHealth } from "../../gen/apiary/v1/queen_pb.js";
import { compareIds } from "../common/compare-ids.js";
import { engineCells, ENGINE_HEADERS } from "./engine-columns.js";
import { renderTable } from "./table.js";
import { bar, bytes, pct, rate, health, workerState, probeState, ago, plural, DASH } from "./format.js";
import type { ClusterState, WorkerEntry } from "../client/cluster-state.js";

export type TopSort = "id" | "cpu" | "mem" | "gpu" | "vram";

export interface TopViewOptions {
  /** Worker order: by hive and id (default) or descending by a resource. */
  sort?: TopSort;
  /** Only workers whose model contains this text. */
  modelFilter?: string;
  /** Cut every line to this many columns (the terminal's width). */
  width?: number;
  /** ANSI colours by health. */
  color?: boolean;
  /** Set while the queen cannot be reached: rows are not shown, as they would be stale. */
  unreachableSinceMs?: number;
  /** A line shown under the title (key help, the filter being typed). */
  hint?: string;
}

const SORT_VALUE: Record<Exclude<TopSort, "id">, (e: WorkerEntry) => number> = {
  cpu: (e) => e.worker.cpuPct ?? -1,
  mem: (e) => Number(e.worker.memoryRssBytes ?? -1n),
  gpu: (e) => e.worker.gpuUtilizationPct ?? -1,
  vram: (e) => Number(e.worker.vramUsedBytes ?? -1n),
};

const HEALTH_COLOR: Partial<Record<HiveHealth, string>> = {
  [HiveHealth.HEALTHY]: "\x1b[32m",
  [HiveHealth.DEGRADED]: "\x1b[33m",
  [HiveHealth.DOWN]: "\x1b[31m",
};

function sortWorkers(workers: WorkerEntry[], sort: TopSort): WorkerEntry[] {
  const byId = (a: WorkerEntry, b: WorkerEntry) => compareIds(a.hiveId, b.hiveId) || compareIds(a.worker.workerId, b.worker.workerId);
  if (sort === "id") return workers.sort(byId);
  const value = SORT_VALUE[sort];
  return workers.sort((a, b) => value(b) - value(a) || byId(a, b));
}

/** One frame of `apiary top` as text: plain unless options ask for colours and a width. */
export function renderTop(state: ClusterState, status: string, nowMs = Date.now(), opts: TopViewOptions = {}): string {
  const hives = [...state.hives.values()].sort((a, b) => compareIds(a.info?.hiveId ?? "", b.info?.hiveId ?? ""));
  const filter = opts.modelFilter ?? "";
  const all = [...state.workers.values()];
  const workers = sortWorkers(all.filter((e) => e.worker.model.includes(filter)), opts.sort ?? "id");
  const healthOf = new Map(hives.map((h) => [h.info?.hiveId ?? "", h.health]));
  // Lines paired with the health that colours them (undefined: no colour).
  const lines: [string, HiveHealth | undefined][] = [];
  const push = (text: string, h?: HiveHealth) => {
    for (const l of text.replace(/\n$/, "").split("\n")) lines.push([l, h]);
  };
  const shown = filter ? `${workers.length} of ${all.length} workers` : plural(all.length, "worker");
  push(`apiary top — ${plural(hives.length, "hive")}, ${shown}, revision ${state.revision}  ${status}`);
  if (opts.hint) push(opts.hint);
  if (opts.unreachableSinceMs !== undefined) {
    push("");
    push(`queen unreachable since ${new Date(opts.unreachableSinceMs).toISOString()} (${ago(timestampFromMs(opts.unreachableSinceMs), nowMs)}); reconnecting`, HiveHealth.DOWN);
    return finish(lines, opts);
  }
  push("");
  push("HIVES");
  const hiveTable = renderTable(
    ["HIVE", "HEALTH", "LAST SEEN", ">GPUS", "GPU PROBE", ">MEM AVAIL", "ENDPOINT"],
    hives.map((h) => [
      h.info?.hiveId ?? "", health(h.health), ago(h.lastSeen, nowMs), String(h.devices.length),
      probeState(h.gpuProbe?.state), bytes(h.memoryAvailableBytes), h.info?.endpoint ?? "",
    ]),
  ).replace(/\n$/, "").split("\n");
  hiveTable.forEach((l, i) => push(l, i === 0 ? undefined : hives[i - 1].health));
  push("");
  push("GPUS");
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
  push(renderTable(["HIVE", ">GPU", "NAME", "VRAM", ">USED / TOTAL", ">UTIL", ">TEMP"], gpuRows));
  push("");
  push("WORKERS");
  const workerTable = renderTable(
    ["HIVE", "WORKER", "MODEL", "STATE", ">CPU", ">MEM", ">READ", ">WRITE", ">GPU", ">VRAM", ...ENGINE_HEADERS],
    workers.map(({ hiveId, worker: w }) => [
      hiveId, w.workerId, w.model || DASH, workerState(w.state), pct(w.cpuPct), bytes(w.memoryRssBytes),
      rate(w.ioReadBytesPerSec), rate(w.ioWriteBytesPerSec), pct(w.gpuUtilizationPct), bytes(w.vramUsedBytes),
      ...engineCells(w),
    ]),
  ).replace(/\n$/, "").split("\n");
  workerTable.forEach((l, i) => push(l, i === 0 ? undefined : healthOf.get(workers[i - 1].hiveId)));
  return finish(lines, opts);
}

function finish(lines: [string, HiveHealth | undefined][], opts: TopViewOptions): string {
  return lines
    .map(([text, h]) => {
      const cut = opts.width !== undefined && text.length > opts.width ? text.slice(0, opts.width) : text;
      const color = opts.color && h !== undefined ? HEALTH_COLOR[h] : undefined;
      return color ? `${color}${cut}\x1b[0m` : cut;
    })
    .join("\n") + "\n";
}
