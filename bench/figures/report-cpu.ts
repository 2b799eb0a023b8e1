import path from "node:path";
import { sleep } from "../lib/args.js";
import { median } from "../lib/stats.js";
import { figureResult, infoResult, type FigureResult } from "../lib/results.js";
import { startQueenServer, type BenchServer, type ServerStats } from "../lib/servers.js";
import { parseTraceGcLine, summarizeGc, type GcEvent, type GcSummary } from "../lib/trace-gc.js";
import type { FigureContext } from "./context.js";
import { ingestSweep, openLoopAt1Hz, type SweepOptions } from "./ingest-sweep.js";

const CPU_FULL_GOAL_US = 100;
const CPU_UNCHANGED_GOAL_US = 30;

/** One measured window of one queen. */
interface ReportCost {
  target: string;
  kind: string;
  cpuUs: number;
  allocBytes: number;
  ackRate: number;
  p99: number;
  gc: GcSummary;
}

/**
 * Queen CPU, heap allocation and GC pauses per report (issue 22), open loop: `--report-cpu-hives`
 * [1,000] hives at 1 Hz send full reports, or send-on-change reports with nothing changed (an
 * empty partial report: a lease renewal). The queen runs with --trace-gc; the window opens once
 * the connect backlog has drained (ingest-sweep's backlogSettleMs) and spans `--measure-ms`.
 * CPU is process.cpuUsage() of the queen over the window; allocation is the heap growth between
 * collections (bench/lib/trace-gc.ts) over the acks of the window.
 *
 * `--report-cpu-baseline=DIR`: a checkout of an older commit (e.g. `git archive SHA | tar -x -C
 * DIR` and a node_modules symlink) whose queen runs alternately with this one, `--rounds` [2]
 * times, back to back on the same machine. Not in ALL: about 40 s per queen run.
 */
export async function reportCpuFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const hives = f.num("report-cpu-hives", 1_000);
  const rounds = f.num("rounds", 2);
  const baseline = f.str("report-cpu-baseline", "");
  const kinds = f.str("report-cpu-kinds", "full,unchanged").split(",");
  const settleMs = f.num("settle-ms", 3_000);
  const base = openLoopAt1Hz(f);
  const targets: [string, string | undefined][] = baseline ? [["baseline", path.join(path.resolve(baseline), "bench/servers/queen-child.ts")], ["current", undefined]] : [["current", undefined]];
  const costs: ReportCost[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const kind of kinds) {
      for (const [target, queenChild] of targets) {
        const cost = await measure(ctx, hives, kind, target, queenChild, base);
        costs.push(cost);
        const k = cost.gc.byKind;
        ctx.log(
          `  ${target}, ${kind}: ${cost.cpuUs.toFixed(0)} µs CPU, ${(cost.allocBytes / 1024).toFixed(1)} KiB allocated per report; acked ${cost.ackRate.toFixed(0)}/s, p99 ${cost.p99.toFixed(1)} ms; GC ${cost.gc.count} (p50 ${cost.gc.pauses.p50} p99 ${cost.gc.pauses.p99} max ${cost.gc.pauses.max} ms)${Object.entries(k).map(([name, s]) => `, ${name} ${s.count} max ${s.max} ms`).join("")}`,
        );
        await sleep(settleMs);
      }
    }
  }
  ctx.extras.reportCpu = { hives, costs };
  const results: FigureResult[] = [];
  for (const kind of kinds) {
    for (const [target] of targets) {
      const mine = costs.filter((c) => c.kind === kind && c.target === target);
      const suffix = `${kind} reports${target === "baseline" ? `, baseline ${baseline}` : ""}`;
      const goal = kind === "full" ? CPU_FULL_GOAL_US : CPU_UNCHANGED_GOAL_US;
      const gcNote = gcSummaryLine(mine.map((c) => c.gc));
      results.push(
        target === "current"
          ? figureResult({ figure: "report-cpu", name: `queen CPU per report at ${hives.toLocaleString("en-US")} reports/s, ${suffix}`, runs: mine.map((c) => c.cpuUs), unit: "µs", goal: `≤ ${goal} µs`, goalValue: goal, higherIsBetter: false, notes: `ack p99 ${median(mine.map((c) => c.p99)).toFixed(1)} ms` })
          : infoResult("report-cpu", `queen CPU per report at ${hives.toLocaleString("en-US")} reports/s, ${suffix}`, mine.map((c) => c.cpuUs), "µs", `ack p99 ${median(mine.map((c) => c.p99)).toFixed(1)} ms`),
        infoResult("report-cpu", `heap allocated per report, ${suffix}`, mine.map((c) => c.allocBytes / 1024), "KiB", gcNote),
      );
    }
  }
  return results;
}

async function measure(ctx: FigureContext, hives: number, kind: string, target: string, queenChild: string | undefined, base: Omit<SweepOptions, "target" | "label" | "server" | "steps">): Promise<ReportCost> {
  const window: { open: boolean; events: GcEvent[] } = { open: false, events: [] };
  const onStdoutLine = (line: string): void => {
    if (!window.open) return;
    const e = parseTraceGcLine(line);
    if (e) window.events.push(e);
  };
  const queen = await startQueenServer({}, { ...ctx.queenStart, nodeFlags: [...(ctx.queenStart.nodeFlags ?? []), "--trace-gc"], onStdoutLine, queenChild });
  // ingest-sweep takes stats right before and after its window: they open and close the GC window.
  const server: BenchServer = {
    ...queen,
    stats: async () => {
      const s = await queen.stats();
      window.open = !window.open;
      return withPreciseCpu(s);
    },
  };
  try {
    const [point] = await ingestSweep(ctx, { ...base, steps: [hives], target: "apiary", label: `${target} queen, ${kind}`, server, changeFraction: kind === "full" ? undefined : 0 });
    const gc = summarizeGc(window.events);
    return { target, kind, cpuUs: (point.serverCpu / point.ackRate) * 1e6, allocBytes: gc.allocatedBytesPerSecond / point.ackRate, ackRate: point.ackRate, p99: point.p99, gc };
  } finally {
    await queen.stop();
  }
}

/** CPU seconds from process.cpuUsage() when the queen child reports it (an older checkout's may not). */
function withPreciseCpu(s: ServerStats): ServerStats {
  return typeof s.cpuUsageUs === "number" ? { ...s, cpuSeconds: s.cpuUsageUs / 1e6 } : s;
}

function gcSummaryLine(gcs: GcSummary[]): string {
  const kinds = new Set(gcs.flatMap((g) => Object.keys(g.byKind)));
  const parts = [...kinds].map((k) => {
    const s = gcs.map((g) => g.byKind[k]).filter((x) => x !== undefined);
    return `${k} ${median(s.map((x) => x.count))} per window, pause p50 ${median(s.map((x) => x.p50))} p99 ${median(s.map((x) => x.p99))} max ${Math.max(...s.map((x) => x.max))} ms`;
  });
  return `GC (median of runs): ${parts.join("; ") || "none in the window"}`;
}
