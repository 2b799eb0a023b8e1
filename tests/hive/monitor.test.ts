import { spawn, type ChildProcess } from "node:child_process";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { GpuProbeState, WorkerState, WorkerTelemetrySchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { GpuProbe } from "../../src/hive/gpu/gpu-probe.js";
import type { WorkerSample } from "../../src/hive/workers/worker-supervisor.js";
import { Monitor, type WorkerSampler } from "../../src/hive/monitor.js";
import { fakeNvidiaSmi, gpuModeFile, tempDir } from "./hive-test-helpers.js";

const logger = pino({ level: "silent" });
const MIB = 1024n * 1024n;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A real process that the fake nvidia-smi sees on GPU 0 (through CUDA_VISIBLE_DEVICES). */
function startGpuProcess(): ChildProcess {
  const child = spawn("sleep", ["600"], { env: { ...process.env, CUDA_VISIBLE_DEVICES: "0" }, stdio: "ignore" });
  cleanups.push(() => void child.kill("SIGKILL"));
  return child;
}

/** Samples a fixed set of real processes; counts calls; can be held to act slow. */
class FixedSampler implements WorkerSampler {
  calls = 0;
  private held: Promise<void> | undefined;
  private releaseHeld: (() => void) | undefined;
  constructor(private readonly workers: { id: string; pid: number }[]) {}
  hold(): void {
    this.held = new Promise((resolve) => (this.releaseHeld = resolve));
  }
  release(): void {
    this.releaseHeld?.();
    this.held = undefined;
  }
  async sample(): Promise<WorkerSample[]> {
    this.calls += 1;
    if (this.held) await this.held;
    return this.workers.map(({ id, pid }) => ({
      telemetry: create(WorkerTelemetrySchema, { workerId: id, pid, state: WorkerState.RUNNING }),
      pids: [pid],
    }));
  }
}

function gpuProbe(modeFile: string, deadlineMs = 5000): GpuProbe {
  const probe = new GpuProbe({
    nvidiaSmiPath: fakeNvidiaSmi,
    deadlineMs,
    killGraceMs: 200,
    logger,
    env: { ...process.env, FAKE_NVIDIA_SMI_GPUS: "2", FAKE_NVIDIA_SMI_MODE_FILE: modeFile },
  });
  cleanups.push(() => probe.close());
  return probe;
}

describe("Monitor", () => {
  it("probes the GPUs once per tick and gives each worker the GPU use of its own pids", async () => {
    const mode = gpuModeFile(tempDir("apiary-monitor-"));
    const gpuWorker = startGpuProcess();
    const cpuWorker = spawn("sleep", ["600"], { stdio: "ignore" });
    cleanups.push(() => void cpuWorker.kill("SIGKILL"));
    const probe = gpuProbe(mode.file);
    const sampler = new FixedSampler([
      { id: "gpu-worker", pid: gpuWorker.pid! },
      { id: "cpu-worker", pid: cpuWorker.pid! },
    ]);
    const monitor = new Monitor({ sampler, gpu: probe, logger, tickDeadlineMs: 10_000 });

    const report = await monitor.tick();
    expect(report.gpuProbe?.state).toBe(GpuProbeState.OK);
    expect(report.devices.map((d) => d.index)).toEqual([0, 1]);
    expect(report.memoryAvailableBytes).toBeGreaterThan(0n);
    const [gpu, cpu] = report.workers;
    expect(gpu.workerId).toBe("gpu-worker");
    expect(gpu.gpuUuids).toEqual([report.devices[0].uuid]);
    expect(gpu.vramUsedBytes).toBe(BigInt(1 + (gpuWorker.pid! % 8)) * 1024n * MIB); // the fake's formula
    expect(gpu.gpuUtilizationPct).toBeGreaterThan(0);
    expect(cpu.gpuUuids).toEqual([]);
    expect(cpu.vramUsedBytes).toBeUndefined();
    expect(probe.invocations()).toBe(3);
    expect(monitor.latest()).toBe(report);
  });

  it("completes ticks on time with TIMEOUT and the last known devices while nvidia-smi hangs", async () => {
    const mode = gpuModeFile(tempDir("apiary-monitor-"));
    const probe = gpuProbe(mode.file, 4000);
    const healthy = await probe.probe();
    expect(healthy.status.state).toBe(GpuProbeState.OK);
    const monitor = new Monitor({ sampler: new FixedSampler([]), gpu: probe, logger, tickDeadlineMs: 200 });

    mode.set("hang");
    const before = probe.invocations();
    const hung = [];
    for (let i = 0; i < 4; i += 1) hung.push(await monitor.tick());
    for (const report of hung) {
      expect(report.gpuProbe?.state).toBe(GpuProbeState.TIMEOUT);
      expect(report.gpuProbe?.lastSuccessAt).toBeDefined();
      expect(report.devices.map((d) => d.uuid)).toEqual(healthy.devices.map((d) => d.uuid));
      expect(report.errors.some((e) => e.source === "gpu")).toBe(true);
    }
    // One round of three calls is still hanging; no tick started another.
    expect(probe.invocations() - before).toBe(3);
  });

  it("never stacks a slow worker sample: later ticks wait on the same one and report the last workers", async () => {
    const mode = gpuModeFile(tempDir("apiary-monitor-"));
    const sampler = new FixedSampler([{ id: "w", pid: process.pid }]);
    const monitor = new Monitor({ sampler, gpu: gpuProbe(mode.file), logger, tickDeadlineMs: 3000 });
    expect((await monitor.tick()).workers.map((w) => w.workerId)).toEqual(["w"]);

    sampler.hold();
    const slowMonitor = new Monitor({ sampler, gpu: gpuProbe(mode.file), logger, tickDeadlineMs: 100 });
    const first = await slowMonitor.tick();
    const second = await slowMonitor.tick();
    expect(sampler.calls).toBe(2); // one for each monitor, none stacked by the second tick
    for (const report of [first, second]) expect(report.errors.map((e) => e.source)).toContain("procfs");
    sampler.release();
    await expect.poll(async () => (await slowMonitor.tick()).workers.length, { timeout: 5000 }).toBe(1);
    expect(sampler.calls).toBeLessThanOrEqual(3);
  });

  it("ticks on its interval, publishes each report to listeners, and stops for good", async () => {
    const mode = gpuModeFile(tempDir("apiary-monitor-"));
    const monitor = new Monitor({ sampler: new FixedSampler([]), gpu: gpuProbe(mode.file), logger, intervalMs: 100 });
    const seen: bigint[] = [];
    const unsubscribe = monitor.subscribe((report) => seen.push(report.seq));
    monitor.subscribe(() => {
      throw new Error("a broken listener must not stop the loop");
    });
    monitor.start();
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    await monitor.stop();
    const ticksAtStop = monitor.ticks;
    expect(seen.slice(0, 3)).toEqual([1n, 2n, 3n]);
    unsubscribe();
    await new Promise((resolve) => setTimeout(resolve, 300)); // would cover ~3 more ticks if the loop kept running
    expect(monitor.ticks).toBe(ticksAtStop);
  });

  it("reports the last completed probe, not TIMEOUT, while a probe is slower than a tick but within its deadline", async () => {
    const mode = gpuModeFile(tempDir("apiary-monitor-"));
    const probe = new GpuProbe({
      nvidiaSmiPath: fakeNvidiaSmi,
      deadlineMs: 5000,
      killGraceMs: 200,
      logger,
      env: { ...process.env, FAKE_NVIDIA_SMI_GPUS: "2", FAKE_NVIDIA_SMI_MODE_FILE: mode.file, FAKE_NVIDIA_SMI_DELAY_MS: "400" },
    });
    cleanups.push(() => probe.close());
    const monitor = new Monitor({ sampler: new FixedSampler([]), gpu: probe, logger, tickDeadlineMs: 50, probeDeadlineMs: 5000 });
    await probe.probe(); // one completed, fast probe
    mode.set("slow");
    const states: GpuProbeState[] = [];
    for (let i = 0; i < 6; i++) states.push((await monitor.tick()).gpuProbe!.state);
    expect(states).toEqual(Array(6).fill(GpuProbeState.OK));
    expect(probe.invocations()).toBeLessThanOrEqual(3 + 3 * 6);
  });
});

