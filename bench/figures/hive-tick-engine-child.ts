import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { GpuProbeState, GpuProbeStatusSchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { pino } from "pino";
import { SpawnWorkerRequestSchema } from "../../gen/apiary/v1/hive_pb.js";
import { EngineScraper } from "../../src/hive/engine/engine-scraper.js";
import { Monitor, type GpuProber, type GpuSnapshotView } from "../../src/hive/monitor.js";
import { WorkerSupervisor } from "../../src/hive/workers/worker-supervisor.js";
import { summarize } from "../lib/stats.js";

/**
 * The hive's tick with engine scraping, in a fresh process: `workers` real processes (sleep)
 * under a WorkerSupervisor (no cgroups), each with an engine endpoint served by a separate farm
 * process (so the servers' CPU is not counted), and a Monitor with the engine scraper. Ticks
 * alternate with and without scraping so both are measured under the same conditions.
 * Prints one JSON line.
 */
const [workers, ticks] = process.argv.slice(2).map(Number);
const logger = pino({ level: "silent" });
const stateDir = mkdtempSync(join(tmpdir(), "apiary-bench-engine-"));
const farm = spawn(process.execPath, [fileURLToPath(new URL("./hive-tick-engine-farm.mjs", import.meta.url)), String(workers)], { stdio: ["ignore", "pipe", "inherit"] });
const supervisor = new WorkerSupervisor({ stateDir, cgroupMode: "none", cgroupParent: "apiary-bench-engine", logger, defaultGraceMs: 1_000 });

try {
  const line = await new Promise<string>((resolve) => createInterface({ input: farm.stdout! }).once("line", resolve));
  const { ports } = JSON.parse(line) as { ports: number[] };
  await supervisor.init();
  for (let i = 0; i < workers; i++) {
    await supervisor.spawn(
      create(SpawnWorkerRequestSchema, { argv: ["sleep", "600"], model: `org/model-${i % 5}`, workerId: `e${i}`, engineMetrics: { case: "engineMetricsPort", value: ports[i] } }),
    );
  }
  const snapshot: GpuSnapshotView = { devices: [], processes: [], status: create(GpuProbeStatusSchema, { state: GpuProbeState.NOT_FOUND }), errors: [] };
  const gpu: GpuProber = { probe: async () => snapshot, last: () => snapshot };
  const engine = new EngineScraper({ targets: () => supervisor.engineTargets() });
  const withEngine = new Monitor({ sampler: supervisor, gpu, engine, logger, intervalMs: 10_000 });
  const without = new Monitor({ sampler: supervisor, gpu, logger, intervalMs: 10_000 });
  for (let i = 0; i < 5; i++) {
    await withEngine.tick();
    await without.tick();
  }
  const measure = async (monitor: Monitor, cpu: number[], wall: number[]) => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const report = await monitor.tick();
    wall.push(performance.now() - t0);
    const used = process.cpuUsage(cpu0);
    cpu.push((used.user + used.system) / 1000);
    return report;
  };
  const cpuWith: number[] = [];
  const wallWith: number[] = [];
  const cpuWithout: number[] = [];
  const wallWithout: number[] = [];
  let scraped = 0;
  let errors = 0;
  for (let i = 0; i < ticks; i++) {
    const report = await measure(withEngine, cpuWith, wallWith);
    scraped = report.workers.filter((w) => w.engineLoad && !w.engineLoad.stale).length;
    errors = report.workers.filter((w) => w.errors.some((e) => e.source === "engine")).length;
    await measure(without, cpuWithout, wallWithout);
  }
  const a = summarize(cpuWith);
  const b = summarize(cpuWithout);
  console.log(JSON.stringify({
    workers, scraped, errors,
    cpuP50: a.p50, cpuP99: a.p99, wallP50: summarize(wallWith).p50, wallP99: summarize(wallWith).p99,
    baseCpuP50: b.p50, baseCpuP99: b.p99, baseWallP50: summarize(wallWithout).p50,
  }));
} finally {
  await supervisor.close({ stopWorkers: true, graceMs: 500 }).catch(() => {});
  farm.kill("SIGKILL");
  rmSync(stateDir, { recursive: true, force: true });
}
