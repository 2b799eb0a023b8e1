import { sleep } from "../lib/args.js";
import { median } from "../lib/stats.js";
import { figureResult, infoResult, type FigureResult } from "../lib/results.js";
import { startQueenServer } from "../lib/servers.js";
import { withServer } from "./ingest.js";
import type { FigureContext } from "./context.js";
import { ingestSweep, openLoopAt1Hz, sustained, type IngestPoint } from "./ingest-sweep.js";

const ACK_P99_GOAL_MS = 100;
const HIVES_GOAL = 10_000;
const CPU_FULL_GOAL_US = 100;
const CPU_UNCHANGED_GOAL_US = 30;

/**
 * Heartbeat ingest with send-on-change hives (issue 22): how many hives reporting at 1 Hz one
 * queen sustains (ack p99 < 100 ms) when a share of their workers changes per tick, and the
 * queen's CPU per report at a fixed load for full, partial and unchanged (empty) reports.
 *
 * `--change-fraction` [0.05]: share of workers and GPUs that leave their deadband per tick. The
 * demo's workers are idle engines (a request now and then moves running/waiting; CPU, memory and
 * VRAM sit inside their bands), so 5 % (each worker about once in 20 s) is generous for it.
 */
export async function ingestOnChangeFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const fraction = f.num("change-fraction", 0.05);
  const cpuHives = f.num("cpu-hives", 1_000);
  const base = openLoopAt1Hz(f);
  const results: FigureResult[] = [];
  const settleMs = f.num("settle-ms", 5_000);

  // Queen CPU per report at one load: full reports, the demo's change rate, nothing changed.
  const cpu: Record<string, IngestPoint | undefined> = {};
  const kinds = f.str("cpu-kinds", "full,partial,unchanged").split(",");
  const all = [["full", undefined], ["partial", fraction], ["unchanged", 0]] as const;
  for (const [label, changeFraction] of all.filter(([k]) => kinds.includes(k))) {
    ctx.log(`  queen CPU per report, ${label} reports, ${cpuHives} hives at 1 Hz`);
    const points = await withServer(() => startQueenServer({}, ctx.queenStart), (server) =>
      ingestSweep(ctx, { ...base, steps: [cpuHives], target: "apiary", label: `queen, ${label}`, server, changeFraction }),
    );
    cpu[label] = points[0];
    // The previous queen and its hives' streams wind down before the next run measures.
    await sleep(settleMs);
  }
  const us = (p: IngestPoint | undefined) => (p && p.ackRate > 0 ? [(p.serverCpu / p.ackRate) * 1e6] : []);
  results.push(
    figureResult({ figure: "ingest-on-change", name: `queen CPU per report at ${cpuHives.toLocaleString("en-US")} reports/s, full reports`, runs: us(cpu.full), unit: "µs", goal: `≤ ${CPU_FULL_GOAL_US} µs`, goalValue: CPU_FULL_GOAL_US, higherIsBetter: false, notes: `${base.workers} workers × ${base.gpus} GPUs per report; ack p99 ${cpu.full?.p99.toFixed(1) ?? "–"} ms` }),
    infoResult("ingest-on-change", `same, partial reports (${fraction * 100} % of workers changed)`, us(cpu.partial), "µs", `ack p99 ${cpu.partial?.p99.toFixed(1) ?? "–"} ms`),
    figureResult({ figure: "ingest-on-change", name: `same, unchanged reports (an empty partial report: a lease renewal)`, runs: us(cpu.unchanged), unit: "µs", goal: `≤ ${CPU_UNCHANGED_GOAL_US} µs`, goalValue: CPU_UNCHANGED_GOAL_US, higherIsBetter: false, notes: `ack p99 ${cpu.unchanged?.p99.toFixed(1) ?? "–"} ms` }),
  );

  // Sustained hives at 1 Hz, send-on-change at the change fraction.
  if (!f.bool("no-sweep")) {
    const steps = f.list("hive-steps", [2_000, 4_000, 6_000, 8_000, 10_000]);
    ctx.log(`  send-on-change sweep at ${fraction * 100} % changed per tick: ${steps.join(", ")} hives`);
    const points = await withServer(() => startQueenServer({}, ctx.queenStart), (server) =>
      ingestSweep(ctx, { ...base, steps, target: "apiary", label: "queen, send-on-change", server, changeFraction: fraction }),
    );
    const ok = points.filter((p) => sustained(p, ACK_P99_GOAL_MS)).sort((a, b) => b.hives - a.hives)[0];
    const last = points[points.length - 1];
    results.push(
      figureResult({ figure: "ingest-on-change", name: `send-on-change: sustained hives at 1 Hz, ack p99 < ${ACK_P99_GOAL_MS} ms, ${fraction * 100} % changed per tick`, runs: [ok?.hives ?? 0], unit: "hives", goal: `≥ ${HIVES_GOAL.toLocaleString("en-US")}`, goalValue: HIVES_GOAL, higherIsBetter: true, notes: ok ? `at ${ok.hives}: queen ${ok.serverCpu.toFixed(2)} cores, ${ok.serverRssMiB.toFixed(0)} MiB RSS, generators ${ok.generatorCpu.toFixed(2)} cores, p99 ${ok.p99.toFixed(1)} ms; last step ${last.hives}: p99 ${last.p99.toFixed(0)} ms, acked ${last.ackRate.toFixed(0)}/s, generators ${last.generatorCpu.toFixed(2)} cores` : "no step met the ack goal" }),
    );
    ctx.extras.ingestOnChange = { points, cpu, fraction, median: median(points.map((p) => p.p99)) };
  }
  return results;
}
