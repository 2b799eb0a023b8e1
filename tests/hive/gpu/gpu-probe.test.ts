import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { GpuProbeState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { GpuProbe, type GpuProbeOptions } from "../../../src/hive/gpu/gpu-probe.js";
import { fakeNvidiaSmi, tempDir } from "./process-helpers.js";
import { isAlive } from "../../helpers/processes.js";
import { waitUntil } from "../../helpers/wait.js";

const GIB = 1024n * 1024n * 1024n;
const dir = tempDir("apiary-gpu-probe-");
const silent = pino({ level: "silent" });
const children: ChildProcess[] = [];
const probes: GpuProbe[] = [];
const seeds = new Set<string>();

afterEach(async () => {
  await Promise.all(probes.splice(0).map((p) => p.close()));
  for (const c of children.splice(0)) c.kill("SIGKILL");
});
afterAll(() => {
  for (const seed of seeds) for (const pid of fakeProcesses(seed)) process.kill(pid, "SIGKILL");
});

/** Live processes started with this test's fake seed (the fakes and anything they left behind). */
function fakeProcesses(seed: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, "latin1");
      if (environ.includes(`FAKE_NVIDIA_SMI_SEED=${seed}\0`) && isAlive(Number(entry))) found.push(Number(entry));
    } catch {
      // gone or not ours
    }
  }
  return found;
}

interface Setup {
  probe: GpuProbe;
  seed: string;
  setMode: (mode: string) => void;
}

function setup(mode: string, opts: Partial<GpuProbeOptions> = {}, extraEnv: Record<string, string> = {}): Setup {
  const seed = `apiary-test-${randomUUID()}`;
  seeds.add(seed);
  const modeFile = path.join(dir, `${seed}.mode`);
  writeFileSync(modeFile, mode);
  const env: NodeJS.ProcessEnv = { ...process.env, FAKE_NVIDIA_SMI_SEED: seed, FAKE_NVIDIA_SMI_GPUS: "3", FAKE_NVIDIA_SMI_MODE_FILE: modeFile, ...extraEnv };
  delete env.CUDA_VISIBLE_DEVICES;
  const probe = new GpuProbe({ nvidiaSmiPath: fakeNvidiaSmi, deadlineMs: 20_000, killGraceMs: 300, logger: silent, env, ...opts });
  probes.push(probe);
  return { probe, seed, setMode: (m) => writeFileSync(modeFile, m) };
}

/** A process that the fake sees as using the given GPUs. */
function gpuWorker(visibleDevices: string): number {
  const env = { ...process.env, CUDA_VISIBLE_DEVICES: visibleDevices };
  const child = spawn("sleep", ["1000"], { env, stdio: "ignore" });
  children.push(child);
  return child.pid!;
}

describe("GpuProbe with the fake nvidia-smi", () => {
  it("reports every device and maps processes to GPUs with VRAM and SM %", async () => {
    const { probe } = setup("ok");
    const first = await probe.probe();
    expect(first.status.state).toBe(GpuProbeState.OK);
    expect(first.devices.map((d) => d.index)).toEqual([0, 1, 2]);
    expect(first.devices[0]).toMatchObject({ name: "NVIDIA H100 80GB HBM3", memoryTotalBytes: 81559n * 1024n * 1024n, computeCapability: "9.0" });
    expect(first.status.lastSuccessAt).toBeDefined();
    expect(probe.invocations()).toBe(3);

    const uuid1 = first.devices[1].uuid;
    const single = gpuWorker(uuid1);
    const both = gpuWorker("0,2");
    const snap = await probe.probe();
    expect(snap.status.state).toBe(GpuProbeState.OK);
    expect(snap.errors).toEqual([]);
    const mine = snap.processes.filter((p) => p.pid === single || p.pid === both);
    expect(mine.map((p) => [p.pid, p.gpuUuid])).toEqual(
      [
        [single, uuid1],
        [both, first.devices[0].uuid],
        [both, first.devices[2].uuid],
      ].sort((a, b) => Number(a[0]) - Number(b[0]) || String(a[1]).localeCompare(String(b[1]))),
    );
    for (const p of mine) {
      expect(p.vramUsedBytes).toBe(BigInt(1 + (p.pid % 8)) * GIB);
      expect(p.smPct).toBeGreaterThan(0);
      expect(p.smPct).toBeLessThanOrEqual(100);
    }
    expect(snap.devices[1].memoryUsedBytes).toBeGreaterThanOrEqual(BigInt(1 + (single % 8)) * GIB);
  });

  it("keeps the last devices and reports TIMEOUT when nvidia-smi hangs, leaving no process behind", async () => {
    // The first round must answer within this deadline, the hung one is killed at it.
    const { probe, seed, setMode } = setup("ok", { deadlineMs: 4000 });
    gpuWorker("1");
    const good = await probe.probe();
    expect(good.status.state).toBe(GpuProbeState.OK);
    expect(good.processes.length).toBeGreaterThan(0);
    setMode("hang");
    const hung = await probe.probe();
    expect(hung.status.state).toBe(GpuProbeState.TIMEOUT);
    expect(hung.status.message).toMatch(/did not finish within 4000 ms/);
    expect(hung.devices).toEqual(good.devices);
    expect(hung.processes).toEqual(good.processes);
    expect(hung.status.lastSuccessAt).toEqual(good.status.lastSuccessAt);
    await waitUntil(() => fakeProcesses(seed).length === 0, "the processes to be gone", 5000);
    setMode("ok");
    expect((await probe.probe()).status.state).toBe(GpuProbeState.OK);
  });

  it("is single-flight: a call while a probe hangs starts nothing and answers TIMEOUT at once", async () => {
    const { probe, seed } = setup("hang", { deadlineMs: 1500 });
    const running = probe.probe();
    expect(probe.inFlight()).toBe(true);
    const skipped = await probe.probe();
    const skippedAgain = await probe.probe();
    expect(skipped.status.state).toBe(GpuProbeState.TIMEOUT);
    expect(skipped.status.message).toMatch(/still running since \d+ ms/);
    expect(skippedAgain.status.state).toBe(GpuProbeState.TIMEOUT);
    expect(probe.invocations()).toBe(3);
    const done = await running;
    expect(done.status.state).toBe(GpuProbeState.TIMEOUT);
    expect(probe.inFlight()).toBe(false);
    expect(probe.invocations()).toBe(3);
    await waitUntil(() => fakeProcesses(seed).length === 0, "the processes to be gone", 5000);
  });

  it.each(["ignore-term", "grandchild"])("settles and cleans up when nvidia-smi is %s", async (mode) => {
    const { probe, seed } = setup(mode, { deadlineMs: 500 });
    const snap = await probe.probe();
    expect(snap.status.state).toBe(GpuProbeState.TIMEOUT);
    await waitUntil(() => fakeProcesses(seed).length === 0, "the processes to be gone", 5000);
  });

  it("waits for a slow nvidia-smi that answers within the deadline", async () => {
    const { probe } = setup("slow", {}, { FAKE_NVIDIA_SMI_DELAY_MS: "300" });
    const snap = await probe.probe();
    expect(snap.status.state).toBe(GpuProbeState.OK);
    expect(snap.devices).toHaveLength(3);
  });

  it("reports unreadable output as ERROR and keeps the last devices", async () => {
    const { probe, setMode } = setup("ok");
    const good = await probe.probe();
    setMode("garbage");
    const bad = await probe.probe();
    expect(bad.status.state).toBe(GpuProbeState.ERROR);
    expect(bad.status.message).toMatch(/--query-gpu.*no GPU rows/);
    expect(bad.devices).toEqual(good.devices);
  });

  it("reports 'No devices were found' as NOT_FOUND with no devices", async () => {
    const { probe, setMode } = setup("ok");
    expect((await probe.probe()).devices).toHaveLength(3);
    setMode("no-devices");
    const snap = await probe.probe();
    expect(snap.status).toMatchObject({ state: GpuProbeState.NOT_FOUND, message: "No devices were found" });
    expect(snap.devices).toEqual([]);
    expect(snap.processes).toEqual([]);
  });

  it("reports a driver failure as ERROR with the driver's text", async () => {
    const { probe } = setup("driver-error");
    const snap = await probe.probe();
    expect(snap.status.state).toBe(GpuProbeState.ERROR);
    expect(snap.status.message).toContain("couldn't communicate with the NVIDIA driver");
    expect(snap.status.lastSuccessAt).toBeUndefined();
  });

  it("leaves [N/A] values unset", async () => {
    const { probe } = setup("na");
    gpuWorker("0");
    const snap = await probe.probe();
    expect(snap.status.state).toBe(GpuProbeState.OK);
    expect(snap.devices).toHaveLength(3);
    for (const d of snap.devices) {
      expect(d.uuid).toMatch(/^GPU-/);
      expect(d.memoryTotalBytes).toBeUndefined();
      expect(d.memoryUsedBytes).toBeUndefined();
      expect(d.utilizationPct).toBeUndefined();
      expect(d.powerDrawW).toBeUndefined();
      expect(d.computeCapability).toBe("");
    }
    const onGpu0 = snap.processes.filter((p) => p.gpuUuid === snap.devices[0].uuid);
    expect(onGpu0.length).toBeGreaterThan(0);
    expect(onGpu0.every((p) => p.vramUsedBytes === undefined && p.smPct === undefined)).toBe(true);
  });

  it("keeps devices OK when pmon fails and names the failing source", async () => {
    const { probe } = setup("ok", {}, { FAKE_NVIDIA_SMI_PMON_MODE: "garbage" });
    const worker = gpuWorker("2");
    const snap = await probe.probe();
    expect(snap.status.state).toBe(GpuProbeState.OK);
    expect(snap.devices).toHaveLength(3);
    expect(snap.errors.map((e) => e.source)).toEqual(["gpu.pmon"]);
    expect(snap.errors[0].message).toMatch(/pmon/);
    const p = snap.processes.find((x) => x.pid === worker);
    expect(p?.vramUsedBytes).toBeDefined();
    expect(p?.smPct).toBeUndefined();
  });

  it("reports a missing nvidia-smi as NOT_FOUND", async () => {
    const probe = new GpuProbe({ nvidiaSmiPath: path.join(dir, "no-nvidia-smi"), deadlineMs: 2000, logger: silent });
    probes.push(probe);
    const snap = await probe.probe();
    expect(snap.status.state).toBe(GpuProbeState.NOT_FOUND);
    expect(snap.status.message).toMatch(/not found/);
    expect(snap.devices).toEqual([]);
  });

  it("runs nothing when disabled or closed", async () => {
    const disabled = new GpuProbe({ nvidiaSmiPath: fakeNvidiaSmi, deadlineMs: 2000, logger: silent, enabled: false });
    expect((await disabled.probe()).status.state).toBe(GpuProbeState.NOT_FOUND);
    expect(disabled.invocations()).toBe(0);
    const { probe } = setup("ok");
    expect(probe.last().status.state).toBe(GpuProbeState.UNSPECIFIED);
    await probe.close();
    await probe.probe();
    expect(probe.invocations()).toBe(0);
  });

  it("logs state changes once, not every probe", async () => {
    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    });
    const { probe, setMode } = setup("ok", { logger: pino({ level: "debug" }, sink) });
    for (let i = 0; i < 3; i++) await probe.probe();
    setMode("driver-error");
    for (let i = 0; i < 3; i++) await probe.probe();
    const stateLines = lines.filter((l) => l.msg === "gpu probe state");
    expect(stateLines.map((l) => l.level)).toEqual([30, 40]);
  });
});
