import { fmt, type FigureResult } from "./results.js";

function row(r: FigureResult): string[] {
  const verdict = r.goal === "report" ? "info" : r.pass ? "PASS" : "MISS";
  return [r.name, `${fmt(r.result)} ${r.unit}`.trim(), r.goal, Number.isFinite(r.ratio) ? fmt(r.ratio) : "–", verdict, r.runs.map((v) => fmt(v)).join(", ")];
}

const HEAD = ["figure", "result (median)", "goal", "ratio", "verdict", "runs"];

/** A plain-text table for the terminal. */
export function textTable(results: FigureResult[]): string {
  const rows = [HEAD, ...results.map(row)];
  const widths = HEAD.map((_, i) => Math.min(70, Math.max(...rows.map((r) => r[i].length))));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ");
  return [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

/** A Markdown table, with notes, for BENCHMARKS.md. */
export function markdownTable(results: FigureResult[]): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const lines = [`| ${HEAD.join(" | ")} | notes |`, `|${HEAD.map(() => "---").join("|")}|---|`];
  for (const r of results) lines.push(`| ${row(r).map(esc).join(" | ")} | ${esc(r.notes)} |`);
  return lines.join("\n");
}
