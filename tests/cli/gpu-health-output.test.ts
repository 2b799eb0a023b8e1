import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { DeviceMatchSchema, HiveHealth } from "../../gen/apiary/v1/queen_pb.js";
import { GpuDeviceSchema, GpuHealthState } from "../../gen/apiary/v1/telemetry_pb.js";
import { formatDevice, gpuHealth } from "../../src/cli/describe/describe-gpu.js";
import { deviceColumns } from "../../src/cli/output/device-columns.js";

const sick = create(GpuDeviceSchema, {
  index: 1,
  uuid: "GPU-1",
  name: "NVIDIA H100 80GB HBM3",
  pciBusId: "00000000:28:00.0",
  health: {
    state: GpuHealthState.UNHEALTHY,
    reasons: ["Xid 79 (reset needed)", "remapped_rows.pending: Yes (reset needed to remap)"],
    memoryRepair: { remappedRowsPending: true, remappedRowsFailure: false },
    recentXids: [{ code: 79, text: "Xid (PCI:0000:28:00): 79, pid=1, GPU has fallen off the bus." }],
    xidCounts: [{ code: 79, count: 2n }],
  },
});

describe("GPU health in the CLI", () => {
  it("apiary devices: HEALTH is the GPU's verdict; -o wide adds the hive's health and the reasons", () => {
    const m = create(DeviceMatchSchema, { hiveId: "a", device: sick, health: HiveHealth.HEALTHY });
    const cell = (header: string) => deviceColumns.find((c) => c.header === header)!.value(m);
    expect(cell("HEALTH")).toBe("unhealthy");
    expect(cell("HIVE HEALTH")).toBe("healthy");
    expect(cell("REASONS")).toBe("Xid 79 (reset needed); remapped_rows.pending: Yes (reset needed to remap)");
    expect(gpuHealth(undefined)).toBe("-");
  });
  it("apiary describe device: verdict, reasons, row remapping, Xid counts and recent Xids", () => {
    const text = formatDevice("a", sick);
    expect(text).toMatch(/^Health:\s+unhealthy$/m);
    expect(text).toMatch(/^Reasons:\s+Xid 79 \(reset needed\); remapped_rows.pending/m);
    expect(text).toMatch(/^Row remapping:\s+pending yes, failure no/m);
    expect(text).toMatch(/^Xid counts:\s+79×2$/m);
    expect(text).toContain("79  Xid (PCI:0000:28:00): 79, pid=1, GPU has fallen off the bus.");
  });
});
