/** One line of a plot. */
export interface Series {
  label: string;
  color: string;
  points: { x: number; y: number }[];
  dashed?: boolean;
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Horizontal reference line (e.g. the latency goal). */
  yGoal?: { value: number; label: string };
  width?: number;
  height?: number;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function niceTicks(max: number, count: number): number[] {
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = 0; v <= max + 1e-9; v += step) ticks.push(v);
  return ticks;
}

/** A line chart as a standalone SVG document: linear x, log10 y (latency spans decades). */
export function lineChartSvg(series: Series[], opts: PlotOptions): string {
  const width = opts.width ?? 760;
  const height = opts.height ?? 440;
  const m = { left: 70, right: 190, top: 40, bottom: 55 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && p.y > 0);
  const xMax = Math.max(1, ...all.map((p) => p.x)) * 1.05;
  const yMin = 10 ** Math.floor(Math.log10(Math.min(1, ...all.map((p) => p.y))));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(opts.yGoal?.value ?? 1, ...all.map((p) => p.y))));
  const sx = (x: number) => m.left + (x / xMax) * plotW;
  const sy = (y: number) => m.top + plotH - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${m.left}" y="22" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
  ];
  for (const t of niceTicks(xMax, 6)) {
    out.push(`<line x1="${sx(t)}" y1="${m.top}" x2="${sx(t)}" y2="${m.top + plotH}" stroke="#eee"/>`);
    out.push(`<text x="${sx(t)}" y="${m.top + plotH + 18}" text-anchor="middle">${t.toLocaleString("en-US")}</text>`);
  }
  for (let d = yMin; d <= yMax * 1.0001; d *= 10) {
    out.push(`<line x1="${m.left}" y1="${sy(d)}" x2="${m.left + plotW}" y2="${sy(d)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.left - 8}" y="${sy(d) + 4}" text-anchor="end">${d >= 1 ? d.toLocaleString("en-US") : d}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${m.left + plotW / 2}" y="${height - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  if (opts.yGoal) {
    const y = sy(opts.yGoal.value);
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + plotW}" y2="${y}" stroke="#c00" stroke-dasharray="2 3"/>`);
    out.push(`<text x="${m.left + plotW - 4}" y="${y - 5}" text-anchor="end" fill="#c00">${esc(opts.yGoal.label)}</text>`);
  }
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && p.y > 0).sort((a, b) => a.x - b.x);
    if (pts.length > 0) {
      const path = pts.map((p, j) => `${j === 0 ? "M" : "L"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
      out.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
      for (const p of pts) out.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    }
    const ly = m.top + 10 + i * 20;
    out.push(`<line x1="${m.left + plotW + 12}" y1="${ly}" x2="${m.left + plotW + 36}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    out.push(`<text x="${m.left + plotW + 42}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
