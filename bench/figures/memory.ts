import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { figureResult, type FigureResult } from "../lib/results.js";
import { median } from "../lib/stats.js";
import type { FigureContext } from "./context.js";

const run = promisify(execFile);

/** Registry memory per worker at 10,000 hives × 8 workers, each run in a fresh process. */
export async function memoryFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const hives = f.num("mem-hives", 10_000);
  const args = [hives, f.num("workers", 8), f.num("gpus", 2), f.num("models", 200)].map(String);
  const child = fileURLToPath(new URL("./memory-child.ts", import.meta.url));
  const perWorker: number[] = [];
  const heapPerWorker: number[] = [];
  let workers = 0;
  for (let i = 0; i < f.num("runs", 3); i++) {
    const { stdout } = await run(process.execPath, ["--import", "tsx", "--expose-gc", child, ...args], { timeout: 300_000, maxBuffer: 1 << 20 });
    const r = JSON.parse(stdout.trim().split("\n").pop()!) as { workers: number; rssDelta: number; heapDelta: number };
    workers = r.workers;
    perWorker.push(r.rssDelta / r.workers);
    heapPerWorker.push(r.heapDelta / r.workers);
    ctx.log(`  run ${i + 1}: ${r.workers} workers, RSS +${(r.rssDelta / 2 ** 20).toFixed(0)} MiB (${(r.rssDelta / r.workers).toFixed(0)} B/worker), heap +${(r.heapDelta / 2 ** 20).toFixed(0)} MiB`);
  }
  return [
    figureResult({
      figure: "memory",
      name: `registry memory per worker (RSS delta ÷ workers at ${workers.toLocaleString("en-US")})`,
      runs: perWorker.map((b) => b / 1024),
      unit: "KiB",
      goal: "< 2 KiB",
      goalValue: 2,
      higherIsBetter: false,
      notes: `heap delta ${(median(heapPerWorker) / 1024).toFixed(2)} KiB/worker; includes hive records, devices, model index and the 10,000-event history`,
    }),
  ];
}
