import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { SpawnWorkerRequestSchema } from "../../gen/apiary/v1/hive_pb.js";
import { GpuProbe } from "../../src/hive/gpu/gpu-probe.js";
import { Monitor, type GpuProber, type GpuSnapshotView } from "../../src/hive/monitor.js";
import { WorkerSupervisor } from "../../src/hive/workers/worker-supervisor.js";
import { summarize } from "../lib/stats.js";

/**
 * The hive's tick in a fresh process: `workers` real processes (sleep) under a WorkerSupervisor
 * (no cgroups, or the machine's cgroups), a Monitor, and the GPU probe answered from a snapshot taken with the fake
 * nvidia-smi, so the tick's own CPU time is measured without nvidia-smi. Then the real probe
 * runs a few ticks at `workers` and at 8 workers to count nvidia-smi invocations per tick.
 * Prints one JSON line.
 */
const [workers, ticks] = process.argv.slice(2, 4).map(Number);
// "none" (default), or "auto": real cgroups where the machine has them (a parent of this process's own).
const cgroupMode = (process.argv[4] ?? "none") as "none" | "auto";
const warmupTicks = Number(process.argv[5] ?? 50);
const fakeSmi = fileURLToPath(new URL("../../examples/fake-nvidia-smi/fake-nvidia-smi", import.meta.url));
const logger = pino({ level: "silent" });
const stateDir = mkdtempSync(join(tmpdir(), "apiary-bench-hive-"));
process.env.FAKE_NVIDIA_SMI_GPUS = "8";
process.env.FAKE_NVIDIA_SMI_SEED = "bench";
const supervisor = new WorkerSupervisor({ stateDir, cgroupMode, cgroupParent: `apiary-bench-${process.pid}`, logger, defaultGraceMs: 1_000 });
const probe = new GpuProbe({ nvidiaSmiPath: fakeSmi, deadlineMs: 10_000, logger });

async function invocationsPerTick(monitor: Monitor, n: number): Promise<number> {
  const start = probe.invocations();
  for (let i = 0; i < n; i++) await monitor.tick();
  return (probe.invocations() - start) / n;
}

try {
  await supervisor.init();
  const first = await probe.probe();
  const uuids = first.devices.map((d) => d.uuid);
  const ids: string[] = [];
  for (let i = 0; i < workers; i++) {
    const w = await supervisor.spawn(
      create(SpawnWorkerRequestSchema, { argv: ["sleep", "600"], model: `org/model-${i % 5}`, gpuUuids: uuids.length ? [uuids[i % uuids.length]] : [], workerId: `w${i}` }),
    );
    ids.push(w.workerId);
  }
  const snapshot: GpuSnapshotView = await probe.probe();
  const fixed: GpuProber = { probe: async () => snapshot, last: () => snapshot };
  const monitor = new Monitor({ sampler: supervisor, gpu: fixed, logger, intervalMs: 10_000 });
  for (let i = 0; i < warmupTicks; i++) await monitor.tick();
  const cpuMs: number[] = [];
  const wallMs: number[] = [];
  let reported = 0;
  for (let i = 0; i < ticks; i++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const report = await monitor.tick();
    wallMs.push(performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    cpuMs.push((cpu.user + cpu.system) / 1000);
    reported = report.workers.length;
  }
  const real = new Monitor({ sampler: supervisor, gpu: probe, logger, intervalMs: 20_000 });
  const perTickAtN = await invocationsPerTick(real, 5);
  for (const id of ids.slice(8)) await supervisor.stop(id, 500);
  await supervisor.sample();
  const perTickAt8 = await invocationsPerTick(real, 5);
  const cpu = summarize(cpuMs);
  const wall = summarize(wallMs);
  console.log(JSON.stringify({ workers, reported, cgroupMode: supervisor.cgroupMode, cpuP50: cpu.p50, cpuP99: cpu.p99, wallP50: wall.p50, wallP99: wall.p99, perTickAtN, perTickAt8, gpus: uuids.length }));
} finally {
  await supervisor.close({ stopWorkers: true, graceMs: 500 }).catch(() => {});
  await probe.close();
  rmSync(stateDir, { recursive: true, force: true });
}
