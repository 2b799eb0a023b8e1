import { fmt, type FigureResult } from "./results.js";

/** A results file as bench/run-all.ts writes it (bench/results/*.json). */
export interface ResultsDoc {
  updated?: string;
  results: (FigureResult & { date?: string })[];
  runs?: { date: string; machine?: Record<string, string> }[];
}

/** A reference measured in the same run as an apiary row, matched by the start of the rows' names. */
interface Reference {
  row: string;
  label: string;
  /** A row holding apiary ÷ reference with a goal of its own; without one the ratio is computed. */
  ratioRow?: string;
}

/** Which rows are references to which apiary rows. A row not named here stands alone. */
const REFERENCES: { apiary: string; references: Reference[] }[] = [
  { apiary: "ceiling: decode + validate", references: [{ row: "same, every request decoded by protobuf-es fromBinary", label: "protobuf-es fromBinary" }] },
  { apiary: "FindWorkers model + min_free_vram, server-side", references: [{ row: "same query as plain loops (bench/figures/find-workers-loops.ts), model filter", label: "plain loops" }] },
  { apiary: "FindWorkers without model (full scan)", references: [{ row: "same query as plain loops, full scan", label: "plain loops" }] },
  {
    apiary: "heartbeat ingest: sustained reports/s",
    references: [
      { row: "grpc-js decode-and-ack server (transport ceiling)", label: "grpc-js ack-only server", ratioRow: "apiary ÷ grpc-js ack server, ingest" },
      { row: "etcd (lease per hive + put per report)", label: "etcd put + lease", ratioRow: "apiary ÷ etcd, ingest" },
    ],
  },
  {
    apiary: "queen CPU per report, Heartbeat on the raw gRPC path",
    references: [
      { row: "grpc-js decode-and-ack server, same loop", label: "grpc-js ack-only server" },
      { row: "same through connect-node", label: "connect-node" },
    ],
  },
  { apiary: "Watch: event delivery latency p99", references: [{ row: "etcd watch: event delivery latency p99", label: "etcd watch", ratioRow: "apiary ÷ etcd, watch latency p99" }] },
  { apiary: "Watch: queen RSS growth with one watcher stalled", references: [{ row: "etcd RSS growth with one watcher stalled", label: "etcd" }] },
];

export interface HeadlineRow {
  figure: string;
  apiary: string;
  reference: string;
  ratio: string;
  goal: string;
  date: string;
  machine: string;
}

/** Several results files as one: a later file's rows replace an earlier one's rows of the same figure. */
export function mergeResults(docs: ResultsDoc[]): ResultsDoc {
  let results: ResultsDoc["results"] = [];
  for (const doc of docs) {
    const figures = new Set(doc.results.map((r) => r.figure));
    results = [...results.filter((r) => !figures.has(r.figure)), ...doc.results.map((r) => ({ ...r, date: r.date ?? doc.updated }))];
  }
  return { updated: docs.map((d) => d.updated ?? "").sort().pop(), results, runs: docs.flatMap((d) => d.runs ?? []) };
}

const verdict = (r: FigureResult) => (r.pass ? "PASS" : "MISS");
const value = (r: FigureResult) => `${r.result === 0 ? "0" : fmt(r.result)} ${r.unit}`.trim();

function machineOf(doc: ResultsDoc, date: string | undefined): string {
  const m = doc.runs?.find((run) => run.date === date)?.machine;
  if (!m) return "–";
  const memory = /^[\d.]+ GiB/.exec(m.memory ?? "")?.[0];
  return [`${m.nproc} cores ${m.cpu ?? ""}`.trim(), memory, m.node && `Node ${m.node}`].filter(Boolean).join(", ");
}

const day = (iso: string | undefined) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : "–");

/**
 * One row per figure with a goal: apiary's median, the references measured in the same run,
 * apiary ÷ each reference, the goal with its verdict (and the ratio's own goal where it has one),
 * the run's date and machine. Rows that only report a number and reference nobody are left out.
 */
export function headlineRows(doc: ResultsDoc): HeadlineRow[] {
  const rows = doc.results;
  const find = (prefix: string) => rows.find((r) => r.name.startsWith(prefix));
  const consumed = new Set<FigureResult>();
  const referencesOf = new Map<FigureResult, { ref: FigureResult; label: string; ratio?: FigureResult }[]>();
  for (const spec of REFERENCES) {
    const apiary = find(spec.apiary);
    if (!apiary) continue;
    const found = [];
    for (const r of spec.references) {
      const ref = find(r.row);
      if (!ref) continue;
      const ratio = r.ratioRow ? find(r.ratioRow) : undefined;
      consumed.add(ref);
      if (ratio) consumed.add(ratio);
      found.push({ ref, label: r.label, ratio });
    }
    referencesOf.set(apiary, found);
  }
  const out: HeadlineRow[] = [];
  for (const r of rows) {
    if (consumed.has(r)) continue;
    const refs = referencesOf.get(r) ?? [];
    if (r.goal === "report" && refs.length === 0) continue;
    const goals = [r.goal === "report" ? "report only" : `${r.goal} ${verdict(r)}`];
    for (const { ratio, label } of refs) if (ratio && ratio.goal !== "report") goals.push(`÷ ${label} ${ratio.goal} ${verdict(ratio)}`);
    out.push({
      figure: r.name,
      apiary: value(r),
      reference: refs.map(({ ref, label }) => `${label}: ${value(ref)}`).join("; ") || "–",
      ratio: refs.map(({ ref, ratio }) => fmt(ratio ? ratio.result : r.result / ref.result)).join("; ") || "–",
      goal: goals.join("; "),
      date: day(r.date ?? doc.updated),
      machine: machineOf(doc, r.date ?? doc.updated),
    });
  }
  return out;
}

const HEAD = ["figure", "apiary", "reference (same run)", "ratio (apiary ÷ reference)", "goal", "date", "machine"];

/** The headline table in Markdown, for the top of BENCHMARKS.md. */
export function headlineMarkdown(doc: ResultsDoc): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const lines = [`| ${HEAD.join(" | ")} |`, `|${HEAD.map(() => "---").join("|")}|`];
  for (const r of headlineRows(doc)) lines.push(`| ${[r.figure, r.apiary, r.reference, r.ratio, r.goal, r.date, r.machine].map(esc).join(" | ")} |`);
  return lines.join("\n");
}

export const HEADLINE_START = "<!-- headline: generated by `node bin/bench.mjs headline --write` (see the command above); edit the results, not this table -->";
export const HEADLINE_END = "<!-- /headline -->";

/** Replaces the generated block of BENCHMARKS.md (between the two markers) with a fresh table. */
export function replaceHeadline(markdown: string, table: string): string {
  const start = markdown.indexOf(HEADLINE_START);
  const end = markdown.indexOf(HEADLINE_END);
  if (start < 0 || end < start) throw new Error("BENCHMARKS.md has no headline markers");
  return `${markdown.slice(0, start + HEADLINE_START.length)}\n${table}\n${markdown.slice(end)}`;
}
