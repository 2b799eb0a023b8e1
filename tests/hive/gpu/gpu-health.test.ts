// Health fields against the full-field captures in ../shared (parsed in place; skipped where the folder
// is absent, like captured-outputs.test.ts) and the verdict rules, one test each.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { GpuDeviceSchema, GpuHealthState, type GpuDevice } from "../../../gen/apiary/v1/telemetry_pb.js";
import { judgeGpu } from "../../../src/hive/gpu/gpu-health-verdict.js";
import { normalizeBusId } from "../../../src/hive/gpu/gpu-probe.js";
import { parseQueryGpu } from "../../../src/hive/gpu/parse-query-gpu.js";
import { repoRoot } from "./process-helpers.js";

const capturedDir = path.resolve(repoRoot, "../shared/fixtures/nvidia-smi");

function parseCapture(file: string): GpuDevice {
  const r = parseQueryGpu(readFileSync(path.join(capturedDir, file), "utf8"));
  if (!r.ok) throw new Error(r.error);
  return r.value[0];
}

describe.skipIf(!existsSync(capturedDir))("health fields in full-field captures", () => {
  it("H100 idle: ECC on, rows remapped 0/No, gpu_idle active, PCIe Gen5 x16", () => {
    const d = parseCapture("query-gpu__h100-80gb-hbm3__csv-fullfields__idle.txt");
    expect(d.health?.ecc).toMatchObject({ modeCurrent: true, uncorrectedVolatile: 0n, uncorrectedAggregate: 0n });
    expect(d.health?.memoryRepair).toMatchObject({ remappedRowsPending: false, remappedRowsFailure: false, remappedRowsCorrectable: 0 });
    expect(d.health?.memoryRepair?.retiredPagesPending).toBeUndefined();
    expect(d.health?.clockEventReasons).toMatchObject({ fieldFamily: "clocks_event_reasons", active: ["gpu_idle"], activeMask: 1n });
    expect(d).toMatchObject({ pcieLinkGen: 5, pcieLinkGenMax: 5, pcieLinkWidth: 16, pcieLinkWidthMax: 16, pstate: "P0", smClockMhz: 345, smClockMaxMhz: 1980, migModeCurrent: false });
    expect(judgeGpu(d, undefined, []).state).toBe(GpuHealthState.HEALTHY);
  });
  it("H100 with MIG: mig.mode Enabled, remapped_rows [N/A] stay absent", () => {
    const d = parseCapture("query-gpu__h100-80gb-mig-enabled__csv-fullfields__load.txt");
    expect(d).toMatchObject({ migModeCurrent: true, migModePending: true, memClockMhz: 2619 });
    expect(d.health?.memoryRepair?.remappedRowsPending).toBeUndefined();
    expect(d.health?.memoryRepair?.remappedRowsCorrectable).toBeUndefined();
  });
  it("RTX 4080 SUPER: no ECC (absent, not 0), MIG absent, P2", () => {
    const d = parseCapture("query-gpu__rtx4080super__csv-fullfields__load.txt");
    expect(d.health?.ecc?.uncorrectedVolatile).toBeUndefined();
    expect(d.health?.ecc?.modeCurrent).toBeUndefined();
    expect(d.migModeCurrent).toBeUndefined();
    expect(d).toMatchObject({ pstate: "P2", pcieLinkGen: 4 });
  });
});

function device(init: Parameters<typeof create<typeof GpuDeviceSchema>>[1]): GpuDevice {
  return create(GpuDeviceSchema, init);
}

describe("verdict rules", () => {
  it("pending row remap → UNHEALTHY", () => {
    const v = judgeGpu(device({ health: { memoryRepair: { remappedRowsPending: true } } }), undefined, []);
    expect(v.state).toBe(GpuHealthState.UNHEALTHY);
  });
  it("row-remap failure → UNHEALTHY", () => {
    expect(judgeGpu(device({ health: { memoryRepair: { remappedRowsFailure: true } } }), undefined, []).state).toBe(GpuHealthState.UNHEALTHY);
  });
  it("volatile uncorrected ECC > 0 → UNHEALTHY", () => {
    expect(judgeGpu(device({ health: { ecc: { uncorrectedVolatile: 1n } } }), undefined, []).state).toBe(GpuHealthState.UNHEALTHY);
  });
  it("aggregate uncorrected ECC rising → UNHEALTHY; steady → HEALTHY", () => {
    const d = device({ health: { ecc: { uncorrectedAggregate: 3n } } });
    expect(judgeGpu(d, 2n, []).state).toBe(GpuHealthState.UNHEALTHY);
    expect(judgeGpu(d, 3n, []).state).toBe(GpuHealthState.HEALTHY);
  });
  it("reset-needed Xid 79 → UNHEALTHY unless ignored", () => {
    expect(judgeGpu(device({}), undefined, [{ code: 79, seq: 1 }]).state).toBe(GpuHealthState.UNHEALTHY);
    expect(judgeGpu(device({}), undefined, [{ code: 79, seq: 1 }], { ignoreXids: new Set([79]) }).state).toBe(GpuHealthState.HEALTHY);
  });
  it("application Xid 13 → HEALTHY", () => {
    expect(judgeGpu(device({}), undefined, [{ code: 13, seq: 1 }]).state).toBe(GpuHealthState.HEALTHY);
  });
  it("PCIe width below max → DEGRADED; generation below max (idle power saving) → HEALTHY", () => {
    expect(judgeGpu(device({ pcieLinkWidth: 4, pcieLinkWidthMax: 16 }), undefined, []).state).toBe(GpuHealthState.DEGRADED);
    expect(judgeGpu(device({ pcieLinkGen: 1, pcieLinkGenMax: 5, pcieLinkWidth: 16, pcieLinkWidthMax: 16 }), undefined, []).state).toBe(GpuHealthState.HEALTHY);
  });
  it("hardware slowdown → DEGRADED; sw_power_cap alone → HEALTHY", () => {
    const slow = device({ health: { clockEventReasons: { fieldFamily: "clocks_event_reasons", active: ["hw_slowdown"] } } });
    expect(judgeGpu(slow, undefined, []).state).toBe(GpuHealthState.DEGRADED);
    const cap = device({ health: { clockEventReasons: { fieldFamily: "clocks_event_reasons", active: ["sw_power_cap"] } } });
    expect(judgeGpu(cap, undefined, []).state).toBe(GpuHealthState.HEALTHY);
  });
  it("retired pages pending → DEGRADED", () => {
    expect(judgeGpu(device({ health: { memoryRepair: { retiredPagesPending: true } } }), undefined, []).state).toBe(GpuHealthState.DEGRADED);
  });
});

describe("normalizeBusId", () => {
  it("maps nvidia-smi's 8-digit domain and the kernel's 4-digit form to one key", () => {
    expect(normalizeBusId("00000000:3B:00.0")).toBe("0000:3b:00");
    expect(normalizeBusId("0000:3b:00")).toBe("0000:3b:00");
  });
});
