import { execFile, spawn } from "node:child_process";
import { PACKAGE_ROOT } from "../../src/common/package-root.js";
import { promisify } from "node:util";
import { buildDist, distIsStale } from "../../scripts/build.mjs";
import { figureResult, infoResult, type FigureResult } from "../lib/results.js";
import type { FigureContext } from "./context.js";

const run = promisify(execFile);
const root = PACKAGE_ROOT;
const BUILT = ["bin/apiary.mjs"];
// The way apiary started before the bundle: tsx compiling the TypeScript sources at every start.
const FROM_SOURCE = ["--import", "tsx", "src/cli.ts"];

/** Spawns `apiary queen --port 0`; resolves with the ms from spawn to its "listening" line, and its URL. */
function startQueen(args: string[]): Promise<{ ms: number; url: string; stop: () => void }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...args, "queen", "--port", "0"], { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, APIARY_LOG_LEVEL: "warn" } });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`queen did not listen within 30 s:\n${out}`)); }, 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = out.match(/apiary queen listening on (http:\/\/\S+)/);
      if (!m) return;
      clearTimeout(timer);
      resolve({ ms: performance.now() - t0, url: m[1], stop: () => child.kill("SIGKILL") });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`queen exited (${code}):\n${out}`)); });
  });
}

async function wallMs(args: string[]): Promise<number> {
  const t0 = performance.now();
  await run(process.execPath, args, { cwd: root, timeout: 30_000 });
  return performance.now() - t0;
}

/** Queen start to listening and `apiary workers` wall time, from the bundle and (reference) from the sources through tsx, alternating. */
export async function startupFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const runs = ctx.flags.num("start-runs", 7);
  if (distIsStale()) await buildDist();
  const times = { queenBuilt: [] as number[], queenSource: [] as number[], workersBuilt: [] as number[], workersSource: [] as number[], help: [] as number[] };
  const reference = await startQueen(BUILT);
  try {
    for (let i = 0; i < runs; i++) {
      for (const [args, queenKey, workersKey] of [[BUILT, "queenBuilt", "workersBuilt"], [FROM_SOURCE, "queenSource", "workersSource"]] as const) {
        const q = await startQueen(args);
        q.stop();
        times[queenKey].push(q.ms);
        times[workersKey].push(await wallMs([...args, "workers", "--queen", reference.url]));
      }
      times.help.push(await wallMs([...BUILT, "--help"]));
      ctx.log(`  run ${i + 1}: queen listening ${times.queenBuilt[i].toFixed(0)} ms (from source ${times.queenSource[i].toFixed(0)}); apiary workers ${times.workersBuilt[i].toFixed(0)} ms (from source ${times.workersSource[i].toFixed(0)})`);
    }
  } finally {
    reference.stop();
  }
  const baseline = await Promise.all(Array.from({ length: 3 }, () => wallMs(["-e", "0"])));
  const note = `node bin/apiary.mjs (dist/apiary.mjs); \`node -e 0\` alone takes ${Math.min(...baseline).toFixed(0)} ms here`;
  return [
    figureResult({ figure: "startup", name: "`apiary workers` wall time (spawn to exit, empty queen)", runs: times.workersBuilt, unit: "ms", goal: "< 150 ms", goalValue: 150, higherIsBetter: false, notes: note }),
    figureResult({ figure: "startup", name: "`apiary --help` wall time (spawn to exit)", runs: times.help, unit: "ms", goal: "< 150 ms", goalValue: 150, higherIsBetter: false, notes: note }),
    figureResult({ figure: "startup", name: "queen start to listening (spawn to the listening line)", runs: times.queenBuilt, unit: "ms", goal: "< 1,000 ms", goalValue: 1000, higherIsBetter: false, notes: note }),
    infoResult("startup", "`apiary workers` from the TypeScript sources through tsx (before)", times.workersSource, "ms", "node --import tsx src/cli.ts workers, alternating with the row above"),
    infoResult("startup", "queen start to listening from the sources through tsx (before)", times.queenSource, "ms", "node --import tsx src/cli.ts queen, alternating with the row above"),
  ];
}
