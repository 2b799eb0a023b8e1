import { timestampMs } from "@bufbuild/protobuf/wkt";
import { HiveHealth, type HiveStatus } from "../../gen/apiary/v1/queen_pb.js";
import { GpuHealthState, WorkerState, type GpuDevice } from "../../gen/apiary/v1/telemetry_pb.js";
import { workerKey, type DashboardState, type WorkerRow } from "./dashboard-state.js";
import { compareIds } from "../common/compare-ids.js";
import { sparkline } from "./sparkline.js";
import { labelMatches, type ViewOptions } from "./view-options.js";

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function bytes(n: bigint | number | undefined): string {
  if (n === undefined) return "–";
  let v = Number(n);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 || u === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

const pct = (v: number | undefined) => (v === undefined ? "–" : `${v.toFixed(0)}%`);

export function ageText(ms: number): string {
  if (ms < 0) ms = 0;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

function healthName(h: HiveHealth): string {
  return HiveHealth[h] ?? "UNKNOWN";
}

function stateName(s: WorkerState): string {
  return WorkerState[s] ?? `STATE_${s}`;
}

function hiveVisible(hive: HiveStatus, v: ViewOptions): boolean {
  const id = hive.info?.hiveId ?? "";
  if (v.hive && id !== v.hive) return false;
  return true;
}

function workerVisible(row: WorkerRow, hive: HiveStatus | undefined, v: ViewOptions): boolean {
  if (v.hive && row.hiveId !== v.hive) return false;
  if (v.model && row.worker.model !== v.model) return false;
  return labelMatches(v.label, row.worker.labels, hive?.info?.labels ?? {});
}

type SortKey = (r: WorkerRow) => string | number;
const SORT_KEYS: Record<string, SortKey> = {
  worker: (r) => r.worker.workerId,
  hive: (r) => r.hiveId,
  model: (r) => r.worker.model,
  state: (r) => stateName(r.worker.state),
  cpu: (r) => r.worker.cpuPct ?? -1,
  rss: (r) => Number(r.worker.memoryRssBytes ?? -1n),
  gpu: (r) => r.worker.gpuUtilizationPct ?? -1,
  vram: (r) => Number(r.worker.vramUsedBytes ?? -1n),
};

export function sortedWorkers(rows: WorkerRow[], v: ViewOptions): WorkerRow[] {
  const key = SORT_KEYS[v.sort] ?? SORT_KEYS.worker;
  const sign = v.dir === "desc" ? -1 : 1;
  return rows.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    const c = x < y ? -1 : x > y ? 1 : 0;
    return c !== 0 ? sign * c : compareIds(a.worker.workerId, b.worker.workerId);
  });
}

function header(label: string, key: string, v: ViewOptions): string {
  const active = v.sort === key;
  const arrow = active ? (v.dir === "asc" ? " ▲" : " ▼") : "";
  return `<th><button class="sort" data-sort="${key}" aria-sort="${active ? (v.dir === "asc" ? "ascending" : "descending") : "none"}">${label}${arrow}</button></th>`;
}

function vramBar(d: GpuDevice): string {
  const total = d.memoryTotalBytes === undefined ? undefined : Number(d.memoryTotalBytes);
  const used = d.memoryUsedBytes === undefined ? undefined : Number(d.memoryUsedBytes);
  const ratio = total && used !== undefined ? Math.min(1, used / total) : 0;
  return `<div class="bar" title="${bytes(used)} of ${bytes(total)}"><div class="fill" style="width:${(ratio * 100).toFixed(1)}%"></div><span>${bytes(used)} / ${bytes(total)}</span></div>`;
}

export function renderHives(state: DashboardState, v: ViewOptions, nowMs: number): string {
  const hives = [...state.hives.values()].filter((h) => hiveVisible(h, v)).sort((a, b) => (a.info!.hiveId < b.info!.hiveId ? -1 : 1));
  if (hives.length === 0) return `<p class="empty">No hives${v.hive ? ` named ${esc(v.hive)}` : ""}.</p>`;
  const rows = hives.map((h) => {
    const id = h.info!.hiveId;
    const health = healthName(h.health);
    const age = h.lastSeen ? ageText(nowMs - timestampMs(h.lastSeen)) : "–";
    const workers = [...state.workers.values()].filter((w) => w.hiveId === id).length;
    const labels = Object.entries(h.info?.labels ?? {}).map(([k, val]) => `<span class="tag">${esc(k)}=${esc(val)}</span>`).join(" ");
    return `<tr data-hive-id="${esc(id)}" class="health-${health}"><td><span class="dot"></span>${esc(id)}</td><td class="health">${health}</td><td class="age">${age}</td><td>${h.devices.length}</td><td>${workers}</td><td>${labels}</td></tr>`;
  });
  return `<table><thead><tr><th>Hive</th><th>Health</th><th>Last seen</th><th>GPUs</th><th>Workers</th><th>Labels</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

export function renderGpus(state: DashboardState, v: ViewOptions): string {
  const rows: string[] = [];
  for (const h of [...state.hives.values()].filter((x) => hiveVisible(x, v)).sort((a, b) => (a.info!.hiveId < b.info!.hiveId ? -1 : 1))) {
    for (const d of h.devices) {
      const util = d.utilizationPct;
      rows.push(
        `<tr data-gpu-uuid="${esc(d.uuid)}"><td>${esc(h.info!.hiveId)}</td><td>${d.index}</td><td>${esc(d.name)}</td><td class="vram">${vramBar(d)}</td>` +
          `<td class="util"><div class="bar small"><div class="fill util" style="width:${util ?? 0}%"></div><span>${pct(util)}</span></div></td>` +
          `<td>${d.temperatureC === undefined ? "–" : `${d.temperatureC.toFixed(0)} °C`}</td><td>${d.powerDrawW === undefined ? "–" : `${d.powerDrawW.toFixed(0)} W`}</td>${gpuHealthCell(d)}</tr>`,
      );
    }
  }
  if (rows.length === 0) return `<p class="empty">No GPUs.</p>`;
  return `<table><thead><tr><th>Hive</th><th>#</th><th>GPU</th><th>VRAM</th><th>Utilisation</th><th>Temp</th><th>Power</th><th>Health</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** The GPU's verdict, its reasons as the tooltip and beside it ("–" while not judged). */
function gpuHealthCell(d: GpuDevice): string {
  const state = d.health?.state ?? GpuHealthState.UNSPECIFIED;
  if (state === GpuHealthState.UNSPECIFIED) return `<td class="gpu-health">–</td>`;
  const name = (GpuHealthState[state] ?? String(state)).toLowerCase();
  const reasons = d.health?.reasons.join("; ") ?? "";
  return `<td class="gpu-health gpu-${name}" title="${esc(reasons)}">${name}${reasons ? ` <small>${esc(reasons)}</small>` : ""}</td>`;
}

export function renderWorkers(state: DashboardState, v: ViewOptions): string {
  const visible = [...state.workers.values()].filter((r) => workerVisible(r, state.hives.get(r.hiveId), v));
  const head =
    `<thead><tr>${header("Worker", "worker", v)}${header("Hive", "hive", v)}${header("Model", "model", v)}${header("State", "state", v)}` +
    `${header("CPU", "cpu", v)}<th>CPU 5 min</th>${header("RSS", "rss", v)}${header("GPU", "gpu", v)}<th>GPU 5 min</th>${header("VRAM", "vram", v)}<th>Reason</th></tr></thead>`;
  if (visible.length === 0) return `<table>${head}</table><p class="empty">No workers match.</p>`;
  const rows = sortedWorkers(visible, v).map(({ hiveId, worker: w }) => {
    const points = state.history.get(workerKey(hiveId, w.workerId)) ?? [];
    const state_ = stateName(w.state);
    const reason = w.errors.map((e) => `${e.source}: ${e.message}`).join("; ") || (w.exitSignal ? `signal ${w.exitSignal}` : w.exitCode !== undefined ? `exit ${w.exitCode}` : "");
    return (
      `<tr data-worker-id="${esc(w.workerId)}" data-hive="${esc(hiveId)}" class="state-${state_}"><td>${esc(w.workerId)}</td><td>${esc(hiveId)}</td><td>${esc(w.model)}</td>` +
      `<td class="state">${state_}</td><td class="num">${pct(w.cpuPct)}</td><td>${sparkline(points, "cpuPct", 100, "cpu")}</td><td class="num">${bytes(w.memoryRssBytes)}</td>` +
      `<td class="num">${pct(w.gpuUtilizationPct)}</td><td>${sparkline(points, "gpuPct", 100, "gpu")}</td><td class="num">${bytes(w.vramUsedBytes)}</td><td class="reason">${esc(reason)}</td></tr>`
    );
  });
  return `<table>${head}<tbody>${rows.join("")}</tbody></table>`;
}
