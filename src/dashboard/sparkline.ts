import type { HistoryPoint } from "./dashboard-state.js";

/** An inline SVG polyline of one field of a history, scaled to [0, max] (max = the largest value seen, at least `floor`). */
export function sparkline(points: readonly HistoryPoint[], field: "cpuPct" | "gpuPct" | "rssBytes", floor: number, cls: string): string {
  const values = points.map((p) => p[field]).filter((v): v is number => v !== undefined);
  const w = 90;
  const h = 22;
  if (values.length < 2) return `<svg class="spark ${cls}" width="${w}" height="${h}"></svg>`;
  const max = Math.max(floor, ...values);
  const step = w / (values.length - 1);
  const coords = values.map((v, i) => `${(i * step).toFixed(1)},${(h - 1 - (v / max) * (h - 2)).toFixed(1)}`).join(" ");
  return `<svg class="spark ${cls}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><polyline points="${coords}"/></svg>`;
}
