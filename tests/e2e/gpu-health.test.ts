// A GPU going sick and recovering, with real processes: `apiary queen`, `apiary hive` with the fake
// nvidia-smi (its health file) and a fake kernel log (--kmsg-path), a demo worker on GPU 0, and the
// `apiary devices` / `apiary describe device` CLI. FindDevices must stop offering the sick GPU within
// two ticks, its worker must leave FindWorkers, and both come back when the GPU recovers.
import { appendFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, DEMO_WORKER } from "./helpers/cluster.js";
import { runApiary } from "./helpers/apiary-process.js";
import { waitFor, waitUntil } from "../helpers/wait.js";

const cluster = new Cluster();
const healthFile = path.join(cluster.dir, "gpu-health");
const kmsg = path.join(cluster.dir, "kmsg");
let gpu0 = "";

async function offered(): Promise<string[]> {
  return (await cluster.queenClient.findDevices({})).matches.map((m) => m.device!.uuid);
}
async function workersOfModel(includeUnhealthyGpus = false): Promise<string[]> {
  return (await cluster.queenClient.findWorkers({ model: "sick-demo", includeUnhealthyGpus })).matches.map((m) => m.worker!.workerId);
}
/** GPU probe rounds the hive finished (its own /metrics). */
async function probeRounds(): Promise<number> {
  const text = await (await fetch(`${cluster.hiveUrl}/metrics`)).text();
  return Number(/^apiary_gpu_probe_duration_seconds_count(?:\{[^}]*\})? (\d+)/m.exec(text)![1]);
}

beforeAll(async () => {
  writeFileSync(healthFile, "");
  writeFileSync(kmsg, "");
  process.env.FAKE_NVIDIA_SMI_HEALTH_FILE = healthFile;
  await cluster.startQueen();
  await cluster.startHive(["--kmsg-path", kmsg, "--gpu-health-xid-hold", "3s"]);
  const devices = await waitFor(async () => {
    const d = (await cluster.queenClient.findDevices({})).matches;
    return d.length === 2 && d;
  }, "both fake GPUs offered", 20_000);
  gpu0 = devices.find((m) => m.device!.index === 0)!.device!.uuid;
  const res = await cluster.hiveClient.spawnWorker({
    workerId: "on-gpu0", model: "sick-demo", gpuUuids: [gpu0],
    argv: [process.execPath, DEMO_WORKER, "--model", "sick-demo", "--cpu", "0.1", "--memory", "16MiB"],
  });
  expect(res.worker!.gpuUuids).toEqual([gpu0]);
  await waitUntil(async () => (await workersOfModel()).includes("on-gpu0"), "the worker on GPU 0 findable", 20_000);
}, 60_000);

afterAll(async () => {
  delete process.env.FAKE_NVIDIA_SMI_HEALTH_FILE;
  await cluster.cleanup();
}, 60_000);

describe("a GPU going sick and recovering (e2e)", () => {
  it("row remap pending: UNHEALTHY within two ticks, left out of FindDevices and FindWorkers, shown by the CLI; then back", async () => {
    const devices = await runApiary(["devices", "--queen", cluster.queenUrl]);
    expect(devices.stdout).toMatch(/^HIVE\s+GPU\s+NAME.*HEALTH/m);
    expect(devices.stdout.match(/ healthy\b/g)).toHaveLength(2);

    const before = await probeRounds();
    writeFileSync(healthFile, "0 sick\n");
    await waitUntil(async () => !(await offered()).includes(gpu0), "GPU 0 no longer offered", 20_000);
    const rounds = (await probeRounds()) - before;
    console.log(`GPU 0 left FindDevices ${rounds} probe round(s) after it turned sick (tick 250 ms)`);
    // The round in flight when the GPU turned sick may have asked nvidia-smi already: two more at most.
    expect(rounds).toBeLessThanOrEqual(3);
    expect(await workersOfModel()).toEqual([]);
    expect(await workersOfModel(true)).toEqual(["on-gpu0"]);

    const listed = await runApiary(["devices", "--queen", cluster.queenUrl]);
    expect(listed.stdout).not.toContain(gpu0.slice(0, 12));
    expect(listed.stdout.match(/ healthy\b/g)).toHaveLength(1);
    const all = await runApiary(["devices", "--queen", cluster.queenUrl, "--include-unhealthy", "-o", "wide"]);
    expect(all.stdout).toMatch(new RegExp(`unhealthy\\s.*remapped_rows.pending: Yes \\(reset needed to remap\\)\\s+${gpu0}`));
    const described = await runApiary(["describe", "device", gpu0, "--queen", cluster.queenUrl]);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/^Health:\s+unhealthy$/m);
    expect(described.stdout).toMatch(/^Row remapping:\s+pending yes/m);

    writeFileSync(healthFile, "");
    await waitUntil(async () => (await offered()).includes(gpu0), "GPU 0 offered again", 20_000);
    await waitUntil(async () => (await workersOfModel()).includes("on-gpu0"), "its worker findable again", 20_000);
  }, 90_000);

  it("Xid 79 in the kernel log: UNHEALTHY with the Xid listed, healthy again after the hold", async () => {
    appendFileSync(kmsg, "4,2001,123456789,-;NVRM: Xid (PCI:0000:18:00): 79, pid=4242, name=python3, GPU has fallen off the bus.\n");
    await waitUntil(async () => !(await offered()).includes(gpu0), "GPU 0 no longer offered after its Xid", 20_000);
    const described = await runApiary(["describe", "device", gpu0, "--queen", cluster.queenUrl]);
    expect(described.stdout).toMatch(/^Reasons:\s+Xid 79 \(reset needed\)$/m);
    expect(described.stdout).toMatch(/^Xid counts:\s+79×1$/m);
    expect(described.stdout).toContain("79  Xid (PCI:0000:18:00): 79, pid=4242, name=python3, GPU has fallen off the bus.");
    expect(await workersOfModel()).toEqual([]);
    // --gpu-health-xid-hold 3s: the verdict lets go of the Xid (the count stays).
    await waitUntil(async () => (await offered()).includes(gpu0), "GPU 0 offered again after the hold", 20_000);
    const after = await cluster.queenClient.findDevices({});
    expect(after.matches.find((m) => m.device!.uuid === gpu0)!.device!.health!.xidCounts.map((c) => c.code)).toEqual([79]);
  }, 90_000);
});
