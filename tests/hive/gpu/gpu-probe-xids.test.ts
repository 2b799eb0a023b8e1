// The probe with the fake nvidia-smi (a real child process) and a kernel log file standing in for
// /dev/kmsg: an Xid on a GPU's PCI bus reaches that GPU's verdict, recent list and counts.
import { appendFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { GpuHealthState, GpuProbeState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { GpuProbe } from "../../../src/hive/gpu/gpu-probe.js";
import { XidMonitor } from "../../../src/hive/kmsg/xid-monitor.js";
import { fakeNvidiaSmi, tempDir } from "./process-helpers.js";

const silent = pino({ level: "silent" });
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function setup(ignoreXids: number[] = []) {
  const dir = tempDir("apiary-probe-xid-");
  const kmsg = path.join(dir, "kmsg");
  writeFileSync(kmsg, "NVRM: Xid (PCI:0000:18:00): 79, pid=1, before the hive started: skipped\n");
  const xids = new XidMonitor({ path: kmsg });
  const env: NodeJS.ProcessEnv = { ...process.env, FAKE_NVIDIA_SMI_GPUS: "2", FAKE_NVIDIA_SMI_SEED: `xid-${dir}` };
  delete env.CUDA_VISIBLE_DEVICES;
  const probe = new GpuProbe({ nvidiaSmiPath: fakeNvidiaSmi, deadlineMs: 20_000, logger: silent, env, xids, ignoreXids: new Set(ignoreXids) });
  closers.push(() => probe.close(), () => xids.close());
  return { probe, kmsg };
}

describe("GpuProbe with Xid events", () => {
  it("Xid 79 on GPU 0's bus makes GPU 0 UNHEALTHY with the event listed; GPU 1 stays HEALTHY", async () => {
    const { probe, kmsg } = setup();
    const before = await probe.probe();
    expect(before.status.state).toBe(GpuProbeState.OK);
    expect(before.devices.map((d) => d.health?.state)).toEqual([GpuHealthState.HEALTHY, GpuHealthState.HEALTHY]);
    expect(before.devices[0].pciBusId).toBe("00000000:18:00.0");
    appendFileSync(kmsg, "4,77,100,-;NVRM: Xid (PCI:0000:18:00): 79, pid=4242, name=python3, GPU has fallen off the bus.\n");
    const after = await probe.probe();
    const [gpu0, gpu1] = after.devices;
    expect(gpu0.health?.state).toBe(GpuHealthState.UNHEALTHY);
    expect(gpu0.health?.reasons).toContain("Xid 79 (reset needed)");
    expect(gpu0.health?.recentXids.map((x) => x.code)).toEqual([79]);
    expect(gpu0.health?.xidCounts.map((c) => [c.code, c.count])).toEqual([[79, 1n]]);
    expect(gpu1.health?.state).toBe(GpuHealthState.HEALTHY);
    expect(gpu1.health?.recentXids).toEqual([]);
  });

  it("--gpu-health-ignore-xid: an ignored code is listed and counted but not judged", async () => {
    const { probe, kmsg } = setup([79]);
    await probe.probe();
    appendFileSync(kmsg, "NVRM: Xid (PCI:0000:18:00): 79, pid=1, GPU has fallen off the bus.\n");
    const gpu0 = (await probe.probe()).devices[0];
    expect(gpu0.health?.state).toBe(GpuHealthState.HEALTHY);
    expect(gpu0.health?.xidCounts.map((c) => c.code)).toEqual([79]);
  });

  it("the fake learns sickness from its health file: sick → UNHEALTHY, slow/x4 → DEGRADED, cleared → HEALTHY", async () => {
    const file = path.join(tempDir("apiary-fake-health-"), "health");
    const env: NodeJS.ProcessEnv = { ...process.env, FAKE_NVIDIA_SMI_GPUS: "2", FAKE_NVIDIA_SMI_HEALTH_FILE: file };
    const probe = new GpuProbe({ nvidiaSmiPath: fakeNvidiaSmi, deadlineMs: 20_000, logger: silent, env });
    closers.push(() => probe.close());
    writeFileSync(file, "0 sick\n1 slow x4\n");
    const sick = await probe.probe();
    expect(sick.devices[0].health).toMatchObject({ state: GpuHealthState.UNHEALTHY, reasons: ["remapped_rows.pending: Yes (reset needed to remap)"] });
    expect(sick.devices[1].health?.state).toBe(GpuHealthState.DEGRADED);
    expect(sick.devices[1].health?.reasons).toEqual(["pcie.link.width x4 below max x16", "clocks_event_reasons.hw_slowdown: Active"]);
    writeFileSync(file, "");
    const well = await probe.probe();
    expect(well.devices.map((d) => d.health?.state)).toEqual([GpuHealthState.HEALTHY, GpuHealthState.HEALTHY]);
  });

  it("an unreadable kernel log is one CollectionError in each snapshot, devices still reported", async () => {
    const env = { ...process.env, FAKE_NVIDIA_SMI_GPUS: "1" };
    const xids = new XidMonitor({ path: "/nonexistent/kmsg" });
    const probe = new GpuProbe({ nvidiaSmiPath: fakeNvidiaSmi, deadlineMs: 20_000, logger: silent, env, xids });
    closers.push(() => probe.close());
    for (let i = 0; i < 2; i++) {
      const s = await probe.probe();
      expect(s.devices).toHaveLength(1);
      expect(s.errors.filter((e) => e.source === "gpu.kmsg")).toHaveLength(1);
    }
  });
});
