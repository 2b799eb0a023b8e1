import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GpuProbeState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { classifySmiError, recognizeSmiError } from "../../../src/hive/gpu/classify-error.js";
import { mergeGpuProcesses } from "../../../src/hive/gpu/merge-gpu-processes.js";
import { parseComputeApps } from "../../../src/hive/gpu/parse-compute-apps.js";
import { parseListGpus } from "../../../src/hive/gpu/parse-list-gpus.js";
import { parsePmon } from "../../../src/hive/gpu/parse-pmon.js";
import { parseQueryGpu } from "../../../src/hive/gpu/parse-query-gpu.js";
import type { ParseResult } from "../../../src/hive/gpu/smi-csv.js";
import { repoRoot } from "./process-helpers.js";

const MIB = 1024n * 1024n;
const fixture = (name: string) => readFileSync(path.join(repoRoot, "tests/hive/gpu/fixtures", name), "utf8");

function ok<T>(r: ParseResult<T>): T {
  if (!r.ok) throw new Error(`expected ok, got error: ${r.error}`);
  return r.value;
}

describe("parseQueryGpu", () => {
  it("reads eight H100s with bytes as bigint", () => {
    const devices = ok(parseQueryGpu(fixture("query-gpu__8x-h100__noheader-nounits.txt")));
    expect(devices).toHaveLength(8);
    expect(devices.map((d) => d.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(devices.map((d) => d.uuid)).size).toBe(8);
    const d1 = devices[1];
    expect(d1).toMatchObject({
      name: "NVIDIA H100 80GB HBM3",
      memoryTotalBytes: 81559n * MIB,
      memoryUsedBytes: 71234n * MIB,
      utilizationPct: 97,
      memoryUtilizationPct: 32,
      temperatureC: 62,
      powerLimitW: 700,
      computeCapability: "9.0",
      pciBusId: "00000000:2A:00.0",
    });
    expect(d1.powerDrawW).toBeCloseTo(651.5);
    expect(devices[0].memoryUsedBytes).toBe(0n);
    expect(devices[0].utilizationPct).toBe(0);
  });

  it("reads the header-and-units variant by its header", () => {
    const [d] = ok(parseQueryGpu(fixture("query-gpu__h100__header-units.txt")));
    expect(d).toMatchObject({
      index: 0,
      uuid: "GPU-7a6e21c0-55d3-4f0b-8f61-0c2b9d4e1a01",
      memoryTotalBytes: 81559n * MIB,
      memoryUsedBytes: 11125n * MIB,
      utilizationPct: 42,
      powerDrawW: 433.78,
    });
  });

  it("leaves every unknown-value spelling unset, never 0", () => {
    const [mig, vgpu] = ok(parseQueryGpu(fixture("query-gpu__na-variants__noheader-nounits.txt")));
    expect(mig.utilizationPct).toBeUndefined();
    expect(mig.memoryUtilizationPct).toBeUndefined();
    expect(mig.memoryUsedBytes).toBe(11125n * MIB);
    expect(vgpu.memoryTotalBytes).toBe(12288n * MIB);
    for (const key of ["memoryUsedBytes", "utilizationPct", "memoryUtilizationPct", "temperatureC", "powerDrawW", "powerLimitW"] as const) {
      expect(vgpu[key], key).toBeUndefined();
    }
    expect(vgpu.computeCapability).toBe("");
    expect(vgpu.pciBusId).toBe("");
  });

  it("maps other field lists given by the caller", () => {
    const [d] = ok(parseQueryGpu("3, NVIDIA L4, 23034 MiB\n", ["index", "name", "memory.total"]));
    expect(d).toMatchObject({ index: 3, name: "NVIDIA L4", memoryTotalBytes: 23034n * MIB });
  });

  it("turns garbage and error texts into an error, not an exception", () => {
    for (const text of [fixture("garbage.txt"), fixture("error__no-devices.txt"), "1, 2, 3\n", "\u0000".repeat(50)]) {
      const r = parseQueryGpu(text);
      expect(r.ok, JSON.stringify(text)).toBe(false);
      if (!r.ok) expect(r.error).toMatch(/no GPU rows/);
    }
  });

  it("flags an out-of-range value and keeps the rest of the row", () => {
    const r = parseQueryGpu("0, GPU-aaaaaaaa-0000-0000-0000-000000000000, X, 1000, 10, 250, 0, 40, 10, 20, 8.0, 00000000:01:00.0\n");
    const [d] = ok(r);
    expect(d.utilizationPct).toBeUndefined();
    expect(d.memoryTotalBytes).toBe(1000n * MIB);
    expect(r.ok && r.warnings.join()).toMatch(/utilization.gpu/);
  });

  it("reads an empty answer as no devices", () => {
    expect(ok(parseQueryGpu(""))).toEqual([]);
  });
});

describe("parseComputeApps", () => {
  it("reads MIG output where one pid uses several GPUs and memory may be unknown", () => {
    const apps = ok(parseComputeApps(fixture("query-compute-apps__mig__noheader-nounits.txt")));
    expect(apps).toHaveLength(5);
    expect(apps.filter((a) => a.pid === 41198).map((a) => a.gpuUuid)).toEqual([
      "GPU-3f0d9a52-1c7e-4b8a-a1e2-7d45c0b9e8f0",
      "MIG-8b2e6f10-47d3-5a9c-b1e0-2f6c9d3a7e41",
    ]);
    expect(apps[0].usedMemoryBytes).toBe(2296n * MIB);
    expect(apps[4].pid).toBe(41210);
    expect(apps[4].usedMemoryBytes).toBeUndefined();
  });

  it("reads the header variant, with a process name containing a comma", () => {
    const apps = ok(parseComputeApps(fixture("query-compute-apps__header-units-comma-name.txt")));
    expect(apps).toEqual([
      { pid: 5021, gpuUuid: "GPU-7a6e21c0-55d3-4f0b-8f61-0c2b9d4e1a01", processName: "/opt/llm/bin/llama-server", usedMemoryBytes: 20480n * MIB },
      { pid: 5022, gpuUuid: "GPU-7a6e21c0-55d3-4f0b-8f61-0c2b9d4e1a01", processName: "python3 -m vllm, serve", usedMemoryBytes: 503n * MIB },
    ]);
  });

  it("reads no output and 'No running processes found' as no processes", () => {
    expect(ok(parseComputeApps(""))).toEqual([]);
    expect(ok(parseComputeApps("No running processes found\n"))).toEqual([]);
  });

  it("turns garbage into an error", () => {
    expect(parseComputeApps(fixture("garbage.txt")).ok).toBe(false);
    expect(parseComputeApps(fixture("error__driver-communication.txt")).ok).toBe(false);
  });
});

describe("parsePmon", () => {
  it("reads SM % per (gpu, pid), '-' as unknown, idle GPUs as no entry", () => {
    const entries = ok(parsePmon(fixture("pmon__2gpu__running.txt")));
    expect(entries).toEqual([
      { gpuIndex: 0, pid: 41180, type: "C", smPct: 63, memPct: 21, command: "llama-server" },
      { gpuIndex: 0, pid: 41198, type: "C", command: "python3" },
      { gpuIndex: 2, pid: 41198, type: "C", smPct: 7, memPct: 2, command: "NVIDIA Share.exe" },
    ]);
  });

  it("averages repeated samples and follows a repeated header", () => {
    const text = [
      "# gpu pid type sm mem enc dec command",
      "# Idx # C/G % % % % name",
      "0 10 C 20 1 - - a",
      "# gpu pid type sm mem enc dec command",
      "# Idx # C/G % % % % name",
      "0 10 C 40 - - - a",
      "0 11 C - - - - b",
    ].join("\n");
    expect(ok(parsePmon(text))).toEqual([
      { gpuIndex: 0, pid: 10, type: "C", smPct: 30, memPct: 1, command: "a" },
      { gpuIndex: 0, pid: 11, type: "C", command: "b" },
    ]);
  });

  it("turns output without a header into an error", () => {
    const r = parsePmon(fixture("garbage.txt"));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/header/);
  });
});

describe("classifySmiError", () => {
  it("classifies 'No devices were found' as NOT_FOUND", () => {
    expect(classifySmiError(fixture("error__no-devices.txt"), "", 6)).toMatchObject({
      state: GpuProbeState.NOT_FOUND,
      message: "No devices were found",
      recognized: true,
    });
  });

  it("classifies driver failures as ERROR with the driver's words", () => {
    const driver = classifySmiError(fixture("error__driver-communication.txt"), "", 9);
    expect(driver.state).toBe(GpuProbeState.ERROR);
    expect(driver.message).toContain("couldn't communicate with the NVIDIA driver");
    const nvml = classifySmiError("", fixture("error__nvml-mismatch.txt"), 18);
    expect(nvml.state).toBe(GpuProbeState.ERROR);
    expect(nvml.message).toBe("Failed to initialize NVML: Driver/library version mismatch NVML library version: 550.144");
    expect(classifySmiError(fixture("error__gpu-lost.txt")).message).toContain("Unable to determine the device handle");
  });

  it("reports unknown failures as ERROR with the exit code and an excerpt", () => {
    const c = classifySmiError(fixture("garbage.txt"), "", 1);
    expect(c).toMatchObject({ state: GpuProbeState.ERROR, recognized: false });
    expect(c.message).toMatch(/exit code 1.*garbage/);
    expect(classifySmiError("", "", 4).message).toMatch(/\(empty\)/);
    expect(recognizeSmiError(fixture("query-gpu__8x-h100__noheader-nounits.txt"))).toBeUndefined();
  });
});

describe("parseListGpus", () => {
  it("reads GPU and MIG lines", () => {
    const text = [
      "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-3f0d9a52-1c7e-4b8a-a1e2-7d45c0b9e8f0)",
      "  MIG 3g.40gb     Device  0: (UUID: MIG-8b2e6f10-47d3-5a9c-b1e0-2f6c9d3a7e41)",
      "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-3f0d9a52-1c7e-4b8a-a1e2-7d45c0b9e8f1)",
    ].join("\n");
    const gpus = ok(parseListGpus(text));
    expect(gpus.map((g) => [g.index, g.migDevices.length])).toEqual([[0, 1], [1, 0]]);
    expect(gpus[0].migDevices[0]).toEqual({ profile: "3g.40gb", index: 0, uuid: "MIG-8b2e6f10-47d3-5a9c-b1e0-2f6c9d3a7e41" });
    expect(parseListGpus(fixture("garbage.txt")).ok).toBe(false);
  });
});

describe("mergeGpuProcesses", () => {
  it("joins compute-apps by uuid and pmon by index, per (pid, GPU)", () => {
    const devices = ok(parseQueryGpu(fixture("query-gpu__na-variants__noheader-nounits.txt")));
    const apps = ok(parseComputeApps(fixture("query-compute-apps__mig__noheader-nounits.txt")));
    const pmon = ok(parsePmon(fixture("pmon__2gpu__running.txt")));
    const merged = mergeGpuProcesses(devices, apps, pmon);
    const gpu0 = devices[0].uuid;
    expect(merged.find((p) => p.pid === 41180 && p.gpuUuid === gpu0)).toEqual({ pid: 41180, gpuUuid: gpu0, vramUsedBytes: 2296n * MIB, smPct: 63 });
    expect(merged.find((p) => p.pid === 41210)).toEqual({ pid: 41210, gpuUuid: devices[1].uuid });
    // pmon's GPU 2 is not among the devices: dropped rather than guessed.
    expect(merged.filter((p) => p.pid === 41198).map((p) => p.gpuUuid).sort()).toEqual([gpu0, "MIG-8b2e6f10-47d3-5a9c-b1e0-2f6c9d3a7e41"]);
  });
});
