// Parses real nvidia-smi captures kept outside the repository (../shared/fixtures/nvidia-smi)
// in place. Where that folder is absent the suite does not run; the always-run test below
// checks the repository's own fixtures in the same categories.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GpuProbeState, type GpuDevice } from "../../../gen/apiary/v1/telemetry_pb.js";
import { classifySmiError, recognizeSmiError } from "../../../src/hive/gpu/classify-error.js";
import { parseComputeApps, type ComputeAppEntry } from "../../../src/hive/gpu/parse-compute-apps.js";
import { parseListGpus, type ListedGpu } from "../../../src/hive/gpu/parse-list-gpus.js";
import { parsePmon, type PmonEntry } from "../../../src/hive/gpu/parse-pmon.js";
import { parseQueryGpu } from "../../../src/hive/gpu/parse-query-gpu.js";
import type { ParseResult } from "../../../src/hive/gpu/smi-csv.js";
import { repoRoot } from "./process-helpers.js";

const MIB = 1024n * 1024n;
const capturedDir = path.resolve(repoRoot, "../shared/fixtures/nvidia-smi");
const ownDir = path.join(repoRoot, "tests/hive/gpu/fixtures");
const capturedExists = existsSync(capturedDir);

function ok<T>(r: ParseResult<T>, file: string): T {
  if (!r.ok) throw new Error(`${file}: ${r.error}`);
  return r.value;
}

// Field lists of captures taken without a header row (from the folder's SOURCES.md).
const NOHEADER_FIELDS: Record<string, string[]> = {
  "query-gpu__a10-12q-vgpu__noheader.txt": ["index", "name", "memory.total", "memory.used", "utilization.gpu", "temperature.gpu"],
  "query-gpu__fan-speed-only__noheader-nounits__not-supported.txt": ["fan.speed"],
  "query-gpu__geforce-2gb__noheader-nounits__fan-na.txt": [
    "memory.total", "memory.free", "memory.used", "temperature.gpu", "fan.speed", "utilization.gpu", "utilization.memory",
  ],
  "query-gpu__rtx2080__noheader-nounits__drv440.txt": [
    "power.limit", "power.min_limit", "power.max_limit", "memory.total", "vbios_version", "driver_version", "name",
    "gpu_uuid", "power.draw", "temperature.gpu", "temperature.memory", "clocks.current.graphics", "clocks.sm", "clocks.mem",
    "utilization.gpu", "utilization.memory", "fan.speed", "pcie.link.width.current", "pstate",
  ],
};

const QUERY_GPU_EXPECT: Record<string, (d: GpuDevice[]) => void> = {
  "query-gpu__a10-12q-vgpu__noheader.txt": ([d]) => {
    expect(d).toMatchObject({ index: 0, name: "NVIDIA A10-12Q", memoryTotalBytes: 12288n * MIB, memoryUsedBytes: 227n * MIB, utilizationPct: 0 });
    expect(d.temperatureC).toBeUndefined();
  },
  "query-gpu__fan-speed-only__noheader-nounits__not-supported.txt": ([d]) => expect(d.memoryTotalBytes).toBeUndefined(),
  "query-gpu__geforce-2gb__noheader-nounits__fan-na.txt": ([d]) =>
    expect(d).toMatchObject({ memoryTotalBytes: 2004n * MIB, memoryUsedBytes: 0n, temperatureC: 44, utilizationPct: 0 }),
  "query-gpu__gtx1080ti-plus-gtx1060__csv.txt": (ds) => {
    expect(ds.map((d) => [d.index, d.name])).toEqual([[0, "GeForce GTX 1080 Ti"], [1, "GeForce GTX 1060 6GB"]]);
    expect(ds[0]).toMatchObject({ memoryTotalBytes: 11175n * MIB, utilizationPct: 36, temperatureC: 60, powerDrawW: 106.56 });
  },
  "query-gpu__h100-80gb-hbm3__csv-fullfields__idle.txt": ([d]) => {
    expect(d).toMatchObject({ name: "NVIDIA H100 80GB HBM3", computeCapability: "9.0", powerLimitW: 700, utilizationPct: 0 });
    expect(Number(d.memoryTotalBytes) / 2 ** 30).toBeCloseTo(79.6, 1);
  },
  "query-gpu__h100-80gb-mig-enabled__csv-fullfields__load.txt": ([d]) => {
    expect(d).toMatchObject({ memoryTotalBytes: 81559n * MIB, memoryUsedBytes: 11125n * MIB, powerDrawW: 433.78 });
    expect(d.utilizationPct).toBeUndefined();
    expect(d.memoryUtilizationPct).toBeUndefined();
  },
  "query-gpu__rtx2080__noheader-nounits__drv440.txt": ([d]) =>
    expect(d).toMatchObject({
      name: "GeForce RTX 2080", uuid: "GPU-22b2c6ac-2d49-4863-197c-9c469071178a", memoryTotalBytes: 7979n * MIB,
      powerLimitW: 200, powerDrawW: 176.98, temperatureC: 45, utilizationPct: 86, memoryUtilizationPct: 55,
    }),
  "query-gpu__rtx4080super__csv-fullfields__load.txt": ([d]) =>
    expect(d).toMatchObject({ memoryTotalBytes: 16376n * MIB, memoryUsedBytes: 1474n * MIB, utilizationPct: 7, computeCapability: "8.9" }),
  "query-gpu__tesla-p100-pcie-16gb__csv-nounits.txt": ([d]) => {
    expect(d).toMatchObject({ name: "Tesla P100-PCIE-16GB", uuid: "GPU-ef1b2c9b-38d8-2090-2bd1-f567a3eb42a6", memoryUsedBytes: 0n, temperatureC: 37 });
    expect(d.memoryTotalBytes).toBeUndefined();
  },
};

const COMPUTE_APPS_EXPECT: Record<string, (a: ComputeAppEntry[]) => void> = {
  "query-compute-apps__h100-80gb-hbm3__csv__idle-empty.txt": (a) => expect(a).toEqual([]),
  "query-compute-apps__h100-mig__csv__load-3procs.txt": (a) =>
    expect(a.map((e) => [e.pid, e.usedMemoryBytes])).toEqual([[21180, 2296n * MIB], [21181, 1272n * MIB], [21198, 7484n * MIB]]),
  "query-compute-apps__rtx2080super-windows-wddm__csv__idle.txt": (a) => {
    expect(a).toHaveLength(10);
    expect(a.every((e) => e.usedMemoryBytes === undefined && e.pid !== undefined)).toBe(true);
    expect(a.map((e) => e.processName)).toContain("C:\\Program Files\\NZXT CAM\\NZXT CAM.exe");
  },
  "query-compute-apps__rtx4080super__csv__load.txt": (a) =>
    expect(a.map((e) => [e.pid, e.usedMemoryBytes])).toEqual([[2165, 25n * MIB], [5022, 503n * MIB], [5021, 360n * MIB]]),
  "query-compute-apps__vgpu-host__gpu_uuid-name__csv.txt": (a) => {
    expect(a).toHaveLength(3);
    expect(a.every((e) => e.pid === undefined && e.processName === "vgpu")).toBe(true);
  },
};

const PMON_EXPECT: Record<string, (p: PmonEntry[]) => void> = {
  "pmon-s-um__1gpu__idle-noprocs.txt": (p) => expect(p).toEqual([]),
  "pmon-s-um__1gpu__older-layout__stream-ffmpeg.txt": (p) => {
    expect(p.map((e) => e.pid).sort((a, b) => a - b)).toEqual([7372, 12176, 20035, 20141, 29591]);
    expect(p.every((e) => e.command === "ffmpeg" && e.smPct !== undefined)).toBe(true);
  },
  "pmon-s-um__2gpu__jpg-ofa-ccpm-columns__stream.txt": (p) => {
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ gpuIndex: 0, pid: 3908637, command: "ffmpeg" });
    expect(p[0].smPct).toBeGreaterThan(4);
    expect(p[0].smPct).toBeLessThan(5.1);
  },
  "pmon__h100-80gb-hbm3__c5__idle-noprocs.txt": (p) => expect(p).toEqual([]),
  "pmon__h100-mig__c5__load.txt": (p) => {
    expect(p.map((e) => e.pid)).toEqual([21180, 21181, 21198]);
    expect(p.every((e) => e.smPct === undefined)).toBe(true);
  },
  "pmon__rtx2080super-windows-wddm__c5__idle.txt": (p) => {
    expect(p).toHaveLength(10);
    expect(p.find((e) => e.pid === 4680)).toMatchObject({ type: "C+G", command: "NVIDIA Share.exe" });
  },
  "pmon__rtx4080super__c5__load.txt": (p) => {
    expect(p).toHaveLength(7);
    expect(p.find((e) => e.pid === 5022)?.smPct).toBe(4);
    expect(p.find((e) => e.pid === 2496)?.smPct).toBeUndefined();
  },
};

const LIST_EXPECT: Record<string, (g: ListedGpu[]) => void> = {
  "smi-L__h100-80gb-hbm3-x8.txt": (g) => expect(g.map((x) => x.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]),
  "smi-L__a100-sxm4-80gb-x4__gpu0-mig-4x1g20gb.txt": (g) => expect(g.map((x) => x.migDevices.length)).toEqual([4, 0, 0, 0]),
  "smi-L__a100-sxm4-80gb-mig-7x1g10gb.txt": (g) => expect(g[0].migDevices).toHaveLength(7),
  "smi-L__h200-mig-5instances-shared-gi.txt": (g) => expect(g[0].migDevices.map((m) => m.profile)).toContain("1c.3g.71gb"),
};

/** Parses one file by its name; returns a short summary for the per-file assertions. */
function checkFile(dir: string, file: string): void {
  const text = readFileSync(path.join(dir, file), "utf8");
  if (file.startsWith("query-gpu")) {
    const devices = ok(parseQueryGpu(text, NOHEADER_FIELDS[file]), file);
    expect(devices.length, file).toBeGreaterThan(0);
    for (const d of devices) {
      // Unknown values must never come through as 0 or NaN.
      for (const v of [d.utilizationPct, d.temperatureC, d.powerDrawW, d.powerLimitW]) if (v !== undefined) expect(Number.isFinite(v)).toBe(true);
    }
    QUERY_GPU_EXPECT[file]?.(devices);
  } else if (file.startsWith("query-compute-apps")) {
    COMPUTE_APPS_EXPECT[file]?.(ok(parseComputeApps(text), file));
  } else if (file.startsWith("pmon")) {
    PMON_EXPECT[file]?.(ok(parsePmon(text), file));
  } else if (file.startsWith("error__")) {
    const c = classifySmiError(text, "", 1);
    expect(c.recognized, file).toBe(true);
    expect(c.state).toBe(/no-devices/.test(file) ? GpuProbeState.NOT_FOUND : GpuProbeState.ERROR);
    expect(c.message.length).toBeGreaterThan(10);
  } else if (file.startsWith("smi-L")) {
    const gpus = ok(parseListGpus(text), file);
    expect(gpus.length).toBeGreaterThan(0);
    expect(gpus.every((g) => g.uuid.startsWith("GPU-"))).toBe(true);
    LIST_EXPECT[file]?.(gpus);
  } else if (file.startsWith("smi-table")) {
    // A healthy table is not a driver failure, so it is never mistaken for NOT_FOUND.
    expect(classifySmiError(text, "", 1)).toMatchObject({ state: GpuProbeState.ERROR, recognized: false });
  } else if (file === "garbage.txt") {
    expect(parseQueryGpu(text).ok || parsePmon(text).ok || parseComputeApps(text).ok).toBe(false);
  } else {
    throw new Error(`${file}: no parser for this kind of file`);
  }
  if (!file.startsWith("error__")) expect(recognizeSmiError(text), `${file} mistaken for an error`).toBeUndefined();
}

describe.runIf(capturedExists)("real nvidia-smi captures (../shared/fixtures/nvidia-smi)", () => {
  const files = capturedExists ? readdirSync(capturedDir).filter((f) => f.endsWith(".txt")).sort() : [];

  it("has files of every kind", () => {
    for (const kind of ["query-gpu", "query-compute-apps", "pmon", "error__", "smi-L", "smi-table"]) {
      expect(files.some((f) => f.startsWith(kind)), kind).toBe(true);
    }
  });

  it.each(files)("%s", (file) => checkFile(capturedDir, file));

  it("checked every capture that has specific expectations", () => {
    const specific = [QUERY_GPU_EXPECT, COMPUTE_APPS_EXPECT, PMON_EXPECT, LIST_EXPECT].flatMap((m) => Object.keys(m));
    for (const f of specific) expect(files, f).toContain(f);
  });
});

describe("the repository's own fixtures", () => {
  it.each(readdirSync(ownDir).filter((f) => f.endsWith(".txt")).sort())("%s", (file) => checkFile(ownDir, file));
});
