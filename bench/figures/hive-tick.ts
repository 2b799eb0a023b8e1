import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { figureResult, infoResult, type FigureResult } from "../lib/results.js";
import { median } from "../lib/stats.js";
import type { FigureContext } from "./context.js";

const run = promisify(execFile);

/** The hive's tick CPU time at 64 workers, and nvidia-smi calls per tick at 64 and at 8 workers. */
export async function hiveTickFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const workers = f.num("tick-workers", 64);
  const ticks = f.num("ticks", 200);
  // A hive ticks for months: the first ticks (the JIT compiling the tick's code, counted in the
  // process's CPU) are left out, as for every steady-state figure here.
  const warmup = f.num("tick-warmup", 50);
  const child = fileURLToPath(new URL("./hive-tick-child.ts", import.meta.url));
  const p99s: number[] = [];
  const p50s: number[] = [];
  const atN: number[] = [];
  const at8: number[] = [];
  const plainP99s: number[] = [];
  const plainP50s: number[] = [];
  let mode = "none";
  type Out = { reported: number; cgroupMode: string; cpuP50: number; cpuP99: number; wallP50: number; perTickAtN: number; perTickAt8: number };
  const once = async (cgroups: "auto" | "none"): Promise<Out> => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", child, String(workers), String(ticks), cgroups, String(warmup)], { timeout: 300_000, maxBuffer: 1 << 20 });
    return JSON.parse(stdout.trim().split("\n").pop()!) as Out;
  };
  // Alternating: with the machine's cgroups (the counters come from them), then without (every process read from /proc).
  for (let i = 0; i < f.num("runs", 3); i++) {
    const r = await once("auto");
    mode = r.cgroupMode;
    p50s.push(r.cpuP50);
    p99s.push(r.cpuP99);
    atN.push(r.perTickAtN);
    at8.push(r.perTickAt8);
    const plain = await once("none");
    plainP50s.push(plain.cpuP50);
    plainP99s.push(plain.cpuP99);
    ctx.log(`  run ${i + 1}: ${r.reported} workers, cgroups ${r.cgroupMode}: tick CPU p50 ${r.cpuP50.toFixed(2)} ms p99 ${r.cpuP99.toFixed(2)} ms (wall p50 ${r.wallP50.toFixed(1)} ms); no cgroups: p50 ${plain.cpuP50.toFixed(2)} p99 ${plain.cpuP99.toFixed(2)} ms; nvidia-smi calls per tick: ${r.perTickAtN} at ${workers} workers, ${r.perTickAt8} at 8`);
  }
  return [
    figureResult({ figure: "hive-tick", name: `hive tick CPU time for ${workers} workers, excluding nvidia-smi (p99 of ${ticks} ticks after ${warmup}), cgroups ${mode}`, runs: p99s, unit: "ms", goal: "< 10 ms", goalValue: 10, higherIsBetter: false, notes: `p50 ${median(p50s).toFixed(2)} ms; counters from the cgroups, /proc read only for the cgroups' processes; GPU attribution + report` }),
    infoResult("hive-tick", `same without cgroups (every process of the machine read from /proc)`, plainP99s, "ms", `p50 ${median(plainP50s).toFixed(2)} ms; alternating with the row above`),
    figureResult({ figure: "hive-tick", name: `nvidia-smi invocations per tick at ${workers} workers ÷ at 8 workers`, runs: atN.map((n, i) => n / at8[i]), unit: "", goal: "= 1 (independent of workers)", goalValue: 1, higherIsBetter: false, notes: `${median(atN)} calls per tick at ${workers} workers, ${median(at8)} at 8 (fake nvidia-smi)` }),
  ];
}
