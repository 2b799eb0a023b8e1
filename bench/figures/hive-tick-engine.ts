import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { figureResult, type FigureResult } from "../lib/results.js";
import { median } from "../lib/stats.js";
import type { FigureContext } from "./context.js";

const run = promisify(execFile);

/** The hive's tick CPU time with every worker's engine /metrics scraped, against the same tick without. */
export async function hiveTickEngineFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const workers = f.num("tick-workers", 64);
  const ticks = f.num("ticks", 30);
  const child = fileURLToPath(new URL("./hive-tick-engine-child.ts", import.meta.url));
  const p99s: number[] = [];
  const p50s: number[] = [];
  const extra: number[] = [];
  const walls: number[] = [];
  const missed: number[] = [];
  for (let i = 0; i < f.num("runs", 3); i++) {
    const { stdout } = await run(process.execPath, ["--import", "tsx", child, String(workers), String(ticks)], { timeout: 300_000, maxBuffer: 1 << 20 });
    const r = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, number>;
    // On an overloaded machine some scrapes miss their 300 ms deadline: counted, not hidden.
    missed.push(workers - r.scraped);
    p50s.push(r.cpuP50);
    p99s.push(r.cpuP99);
    extra.push(r.cpuP50 - r.baseCpuP50);
    walls.push(r.wallP50);
    ctx.log(`  run ${i + 1}: ${r.scraped} of ${workers} engines fresh in the last tick (${r.errors} missed the deadline); tick CPU p50 ${r.cpuP50.toFixed(2)} ms p99 ${r.cpuP99.toFixed(2)} ms, wall p50 ${r.wallP50.toFixed(1)} ms p99 ${r.wallP99.toFixed(1)} ms; without scraping CPU p50 ${r.baseCpuP50.toFixed(2)} ms p99 ${r.baseCpuP99.toFixed(2)} ms, wall p50 ${r.baseWallP50.toFixed(1)} ms`);
  }
  return [
    figureResult({
      figure: "hive-tick-engine",
      name: `hive tick CPU time for ${workers} workers with every engine /metrics scraped (p99 of ${ticks} ticks)`,
      runs: p99s,
      unit: "ms",
      goal: "< 50 ms (5 % of a 1 s tick)",
      goalValue: 50,
      higherIsBetter: false,
      notes: `p50 ${median(p50s).toFixed(2)} ms, of which scraping ${median(extra).toFixed(2)} ms (p50 with minus without); tick wall p50 ${median(walls).toFixed(1)} ms; vLLM-format expositions of ~5 kB over loopback HTTP keep-alive; engines not fresh in the last tick: ${missed.join(", ")}`,
    }),
  ];
}
