// MIG instances as devices: against the H100 MIG captures in ../shared (parsed in place, skipped when
// absent) and the repository copies of the -L and table captures (tests/hive/gpu/fixtures).
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { GpuDeviceSchema, GpuHealthState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { migDevices, placeMigProcesses } from "../../../src/hive/gpu/mig-devices.js";
import { parseListGpus } from "../../../src/hive/gpu/parse-list-gpus.js";
import { parseMigTable } from "../../../src/hive/gpu/parse-mig-table.js";
import { parseQueryGpu } from "../../../src/hive/gpu/parse-query-gpu.js";
import { parseComputeApps } from "../../../src/hive/gpu/parse-compute-apps.js";
import { mergeGpuProcesses } from "../../../src/hive/gpu/merge-gpu-processes.js";
import { pino } from "pino";
import { GpuProbe } from "../../../src/hive/gpu/gpu-probe.js";
import { fakeNvidiaSmi, repoRoot } from "./process-helpers.js";

const MIB = 1024n * 1024n;
const shared = path.resolve(repoRoot, "../shared/fixtures/nvidia-smi");
const repoFixture = (name: string) => readFileSync(path.join(repoRoot, "tests/hive/gpu/fixtures", name), "utf8");
const PARENT = "GPU-00000000-0000-0000-0000-000000000000";

function listed() {
  const r = parseListGpus(repoFixture("smi-L__h100-mig-4instances.txt"));
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

describe("MIG table part", () => {
  it("gives each instance's memory and each process's GI/CI (H100 with 4 instances)", () => {
    const t = parseMigTable(repoFixture("smi-table__h100-mig__load.txt"));
    expect(t.instances.map((i) => [i.gi, i.ci, i.migDevice, i.usedBytes / MIB, i.totalBytes / MIB])).toEqual([
      [2, 0, 0, 11091n, 40448n], [3, 0, 1, 17n, 20096n], [9, 0, 2, 9n, 9984n], [10, 0, 3, 9n, 9984n],
    ]);
    expect(t.processes.map((p) => [p.gi, p.ci, p.pid])).toEqual([[2, 0, 21180], [2, 0, 21181], [2, 0, 21198]]);
  });
  it("a table without MIG parts gives none (processes with GI/CI N/A are not MIG processes)", () => {
    const t = parseMigTable("| Processes: |\n|    0   N/A  N/A     1234      C   python   100MiB |\n");
    expect(t).toEqual({ instances: [], processes: [] });
  });
});

describe("MIG instances as devices", () => {
  const parent = create(GpuDeviceSchema, {
    index: 0, uuid: PARENT, name: "NVIDIA H100 80GB HBM3", migModeCurrent: true, pciBusId: "00000000:00:09.0",
    health: { state: GpuHealthState.UNHEALTHY, reasons: ["Xid 79 (reset needed)"] },
  });
  const table = parseMigTable(repoFixture("smi-table__h100-mig__load.txt"));

  it("one device per instance: uuid MIG-…, profile, memory, parent, and the parent's health", () => {
    const devices = migDevices([parent], listed(), table);
    expect(devices.map((d) => [d.uuid.slice(0, 12), d.migProfile, d.memoryTotalBytes! / MIB, d.parentUuid])).toEqual([
      ["MIG-00000000", "3g.40gb", 40448n, PARENT], ["MIG-00000001", "2g.20gb", 20096n, PARENT],
      ["MIG-00000002", "1g.10gb", 9984n, PARENT], ["MIG-00000003", "1g.10gb", 9984n, PARENT],
    ]);
    expect(devices[0]).toMatchObject({ name: "NVIDIA H100 80GB HBM3 MIG 3g.40gb", memoryUsedBytes: 11091n * MIB, pciBusId: "00000000:00:09.0" });
    expect(devices.every((d) => d.health?.state === GpuHealthState.UNHEALTHY)).toBe(true);
    expect(devices[0].utilizationPct).toBeUndefined();
  });
  it("a GPU with MIG disabled has no instances", () => {
    expect(migDevices([create(GpuDeviceSchema, { ...parent, migModeCurrent: false })], listed(), table)).toEqual([]);
  });
  it("processes --query-compute-apps puts on the GPU move to their instance", () => {
    const placed = placeMigProcesses([{ pid: 21180, gpuUuid: PARENT }, { pid: 777, gpuUuid: PARENT }], [parent], listed(), table);
    expect(placed).toEqual([{ pid: 21180, gpuUuid: "MIG-00000000-0000-0000-0000-000000000000" }, { pid: 777, gpuUuid: PARENT }]);
  });
});

describe.skipIf(!existsSync(shared))("MIG captures in shared, parsed in place", () => {
  it("H100 MIG: query-gpu says MIG enabled; -L, table and compute-apps put the 3 processes on the 3g.40gb instance", () => {
    const read = (f: string) => readFileSync(path.join(shared, f), "utf8");
    const q = parseQueryGpu(read("query-gpu__h100-80gb-mig-enabled__csv-fullfields__load.txt"));
    const l = parseListGpus(read("smi-L__h100-mig-4instances.txt"));
    const apps = parseComputeApps(read("query-compute-apps__h100-mig__csv__load-3procs.txt"));
    if (!q.ok || !l.ok || !apps.ok) throw new Error("capture did not parse");
    const table = parseMigTable(read("smi-table__h100-mig__load.txt"));
    const devices = migDevices(q.value, l.value, table);
    expect(devices).toHaveLength(4);
    const processes = placeMigProcesses(mergeGpuProcesses(q.value, apps.value, []), q.value, l.value, table);
    expect(new Set(processes.map((p) => p.gpuUuid))).toEqual(new Set([devices[0].uuid]));
    expect(processes.map((p) => p.pid).sort()).toEqual([21180, 21181, 21198]);
  });
});

describe("GpuProbe with the fake nvidia-smi in MIG mode", () => {
  it("reports GPU 0's four instances as devices beside the two GPUs, with two more calls only because MIG is on", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, FAKE_NVIDIA_SMI_GPUS: "2", FAKE_NVIDIA_SMI_MIG: "1" };
    delete env.FAKE_NVIDIA_SMI_MODE_FILE;
    const probe = new GpuProbe({ nvidiaSmiPath: fakeNvidiaSmi, deadlineMs: 20_000, logger: pino({ level: "silent" }), env });
    try {
      const s = await probe.probe();
      expect(s.errors).toEqual([]);
      expect(s.devices.map((d) => [d.index, d.uuid.slice(0, 4), d.migProfile, d.migModeCurrent])).toEqual([
        [0, "GPU-", "", true], [1, "GPU-", "", false],
        [0, "MIG-", "3g.40gb", undefined], [0, "MIG-", "2g.20gb", undefined], [0, "MIG-", "1g.10gb", undefined], [0, "MIG-", "1g.10gb", undefined],
      ]);
      expect(s.devices[2]).toMatchObject({ parentUuid: s.devices[0].uuid, memoryTotalBytes: 40448n * MIB, memoryUsedBytes: 11091n * MIB });
      expect(probe.invocations()).toBe(5);
    } finally {
      await probe.close();
    }
  });
});
