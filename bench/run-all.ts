import { execSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, freemem, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { Flags, parseArgs } from "./lib/args.js";
import type { FigureResult } from "./lib/results.js";
import { markdownTable, textTable } from "./lib/table.js";
import { headlineMarkdown, mergeResults, replaceHeadline, type ResultsDoc } from "./lib/headline.js";
import { lineChartSvg } from "./lib/svg-plot.js";
import type { FigureContext } from "./figures/context.js";
import { ceilingFigure, ingestFigure } from "./figures/ingest.js";
import { ingestOnChangeFigure } from "./figures/ingest-on-change.js";
import type { IngestPoint } from "./figures/ingest-sweep.js";
import { findWorkersFigure } from "./figures/find-workers.js";
import { informerFigure } from "./figures/informer.js";
import { watchFigure } from "./figures/watch.js";
import { watchFanoutFigure } from "./figures/watch-fanout.js";
import { multiQueenFigure } from "./figures/multi-queen.js";
import { memoryFigure } from "./figures/memory.js";
import { hiveTickFigure } from "./figures/hive-tick.js";
import { hiveTickEngineFigure } from "./figures/hive-tick-engine.js";
import { startupFigure } from "./figures/startup.js";
import { tlsFigure } from "./figures/tls.js";
import { routeFigure } from "./figures/route.js";
import { transportCostFigure } from "./figures/transport-cost.js";
import { soakFigure } from "./figures/soak.js";
import { hardeningFigure } from "./figures/hardening.js";
import { reportCpuFigure } from "./figures/report-cpu.js";
import { runStandaloneLoad } from "./load/standalone.js";

const FIGURES: Record<string, (ctx: FigureContext) => Promise<FigureResult[]>> = {
  ceiling: ceilingFigure,
  "find-workers": findWorkersFigure,
  informer: informerFigure,
  memory: memoryFigure,
  "hive-tick": hiveTickFigure,
  "hive-tick-engine": hiveTickEngineFigure,
  startup: startupFigure,
  ingest: ingestFigure,
  "ingest-on-change": ingestOnChangeFigure,
  "transport-cost": transportCostFigure,
  watch: watchFigure,
  "watch-fanout": watchFanoutFigure,
  "multi-queen": multiQueenFigure,
  tls: tlsFigure,
  route: routeFigure,
  // Not in ALL: A/B against an older checkout when --hardening-baseline=DIR is given.
  hardening: hardeningFigure,
  // Not in ALL: queen CPU, allocation and GC per report, A/B with --report-cpu-baseline=DIR (≈ 40 s per queen run).
  "report-cpu": reportCpuFigure,
  // Not in ALL: 30 minutes by default (--soak-min).
  soak: soakFigure,
};
/** `npm run bench` order: quick in-process figures first, then the multi-process ones. */
const ALL = ["ceiling", "find-workers", "informer", "watch-fanout", "memory", "hive-tick", "hive-tick-engine", "startup", "ingest", "ingest-on-change", "transport-cost", "watch", "multi-queen", "route"];

const benchDir = fileURLToPath(new URL(".", import.meta.url));
const { positional, flags: rawFlags } = parseArgs(process.argv.slice(2));
const flags = new Flags(rawFlags);
const log = (m: string) => console.log(m);

function machine(): Record<string, string> {
  const sh = (cmd: string) => {
    try {
      return execSync(cmd, { encoding: "utf8", timeout: 5_000 }).trim();
    } catch {
      return "";
    }
  };
  return {
    nproc: sh("nproc") || String(cpus().length),
    cpu: cpus()[0]?.model ?? "",
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB total, ${(freemem() / 2 ** 30).toFixed(1)} GiB free at start`,
    freeG: sh("free -g"),
    loadavg: sh("cat /proc/loadavg"),
    node: process.version,
    etcd: sh("etcd --version 2>/dev/null | head -n1"),
  };
}

function writeSvg(extras: Record<string, unknown>): void {
  const ingest = extras.ingest as { apiary: IngestPoint[][]; grpcAck: IngestPoint[][]; etcd: IngestPoint[][] } | undefined;
  if (!ingest) return;
  const series = (points: IngestPoint[][], label: string, color: string) => [
    { label: `${label} p99`, color, points: points.flat().map((p) => ({ x: p.offered, y: p.p99 })) },
    { label: `${label} p50`, color, dashed: true, points: points.flat().map((p) => ({ x: p.offered, y: p.p50 })) },
  ];
  const svg = lineChartSvg(
    [
      ...series(ingest.apiary.slice(0, 1), "apiary queen", "#1f77b4"),
      ...series(ingest.grpcAck.slice(0, 1), "grpc-js ack server", "#2ca02c"),
      ...series(ingest.etcd.slice(0, 1), "etcd put+lease", "#d62728"),
    ],
    { title: "Heartbeat ingest: acked reports/s vs ack latency", xLabel: "offered reports per second (hives at 1 Hz, 8 workers × 2 GPUs each)", yLabel: "ack latency, ms (log)", yGoal: { value: 100, label: "p99 goal 100 ms" } },
  );
  writeFileSync(`${benchDir}/ingest-latency.svg`, svg);
  log(`wrote bench/ingest-latency.svg`);
}

/** The headline table of BENCHMARKS.md from a results file; --write replaces it in BENCHMARKS.md. */
function printHeadline(): void {
  const files = flags.str("from", "latest.json").split(",").map((f) => f.trim().replace(/[^\w.+-]/g, "_"));
  const docs = files.map((f) => JSON.parse(readFileSync(`${benchDir}/results/${f}`, "utf8")) as ResultsDoc);
  const table = headlineMarkdown(mergeResults(docs));
  if (!flags.bool("write")) return log(table);
  const target = `${benchDir}/../BENCHMARKS.md`;
  writeFileSync(target, replaceHeadline(readFileSync(target, "utf8"), table));
  log(`wrote the headline of BENCHMARKS.md from bench/results/{${files.join(",")}}`);
}

async function main(): Promise<void> {
  const which = positional[0] ?? "all";
  if (which === "load") return runStandaloneLoad(flags, log);
  if (which === "headline") return printHeadline();
  if (which === "svg") {
    // Redraws bench/ingest-latency.svg from the ingest curves saved in latest.json.
    const saved = JSON.parse(readFileSync(`${benchDir}/results/latest.json`, "utf8")) as { runs?: { extras?: Record<string, unknown> }[] };
    const withIngest = (saved.runs ?? []).filter((r) => r.extras?.ingest).pop();
    if (!withIngest?.extras) throw new Error("latest.json holds no ingest curves; run the ingest figure first");
    return writeSvg(withIngest.extras);
  }
  const names = which === "all" ? ALL : which.split(",");
  for (const name of names) if (!FIGURES[name]) throw new Error(`unknown figure ${name}; one of: ${Object.keys(FIGURES).join(", ")}, all, load`);
  const profileDir = flags.bool("profile") ? `${benchDir}/results/profiles/${new Date().toISOString().replace(/[:.]/g, "-")}` : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const queenFlags = flags.str("queen-node-flags", "").split(" ").filter((s) => s !== "");
  const ctx: FigureContext = { flags, profileDir, log, extras: {}, queenStart: { cpuProfileDir: profileDir, nodeFlags: queenFlags } };
  const started = new Date();
  const info = machine();
  log(`apiary bench: ${names.join(", ")} on ${info.nproc} cores, node ${info.node}; load ${info.loadavg}`);
  const results: FigureResult[] = [];
  const failures: string[] = [];
  for (const name of names) {
    const t0 = performance.now();
    log(`\n== ${name}`);
    try {
      results.push(...(await FIGURES[name](ctx)));
    } catch (err) {
      failures.push(`${name}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      log(`!! ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    log(`   (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  const outName = flags.str("out", "latest.json").replace(/[^\w.+-]/g, "_");
  const unused = flags.unused().filter((f) => f !== "profile");
  if (unused.length) log(`note: unused flags: ${unused.map((f) => `--${f}`).join(" ")}`);
  log(`\n${textTable(results)}`);
  mkdirSync(`${benchDir}/results`, { recursive: true });
  // latest.json keeps the latest rows of every figure: a run of some figures replaces only theirs.
  const path = `${benchDir}/results/${outName}`;
  const previous = existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as { results?: (FigureResult & { run?: number })[]; runs?: unknown[] }) : {};
  const run = { date: started.toISOString(), durationS: Math.round((Date.now() - started.getTime()) / 1000), command: `node bin/bench.mjs ${process.argv.slice(2).join(" ")}`.trim(), figures: names, machine: { ...info, loadavgEnd: machine().loadavg }, failures, extras: ctx.extras };
  const runs = [...(names.length === ALL.length ? [] : (previous.runs ?? [])), run].slice(-10);
  const kept = names.length === ALL.length ? [] : (previous.results ?? []).filter((r) => !names.includes(r.figure));
  const merged = [...kept, ...results.map((r) => ({ ...r, date: run.date }))].sort((a, b) => ALL.indexOf(a.figure) - ALL.indexOf(b.figure));
  const doc = { updated: run.date, results: merged, markdown: markdownTable(merged), runs };
  writeFileSync(path, JSON.stringify(doc, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2) + "\n");
  log(`\nwrote bench/results/${outName}${profileDir ? `; CPU profiles in ${profileDir}` : ""}`);
  writeSvg(ctx.extras);
  if (failures.length) {
    for (const f of failures) console.error(f);
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (err) {
  // One line for an operator (queen unreachable, bad flag); the stack only with APIARY_BENCH_DEBUG.
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  if (process.env.APIARY_BENCH_DEBUG) console.error(err);
  process.exitCode = 1;
}
process.exit();
