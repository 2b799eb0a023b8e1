import { create } from "@bufbuild/protobuf";
import { GpuHealthSchema, GpuHealthState, type GpuDevice, type GpuHealth } from "../../../gen/apiary/v1/telemetry_pb.js";

/**
 * Xids after which the GPU needs a reset (or more) before it can be trusted with new work, from
 * NVIDIA's Xid catalogue (https://docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html) and
 * its memory-error pages (https://docs.nvidia.com/deploy/dynamic-page-retirement/visibility.html):
 *  48 double-bit (uncorrectable) ECC error: reset GPU / reboot to clear;
 *  63 row remapper / page retirement recorded: "reset gpu to activate";
 *  64 row remap / page retirement failed;
 *  74 NVLink error: reset GPU or reboot to clear;
 *  79 GPU has fallen off the bus: reboot;
 *  95 uncontained ECC error: reset GPU;
 *  119 / 120 GSP RPC timeout / GSP error: reset GPU (the GPU is often wedged).
 * Not in the set: 94 (contained ECC error: NVIDIA's A100 memory-error guide says new work may run
 * without a reset, the page is offlined) and 92 (high single-bit ECC rate, a trend): both DEGRADED.
 */
export const RESET_NEEDED_XIDS: ReadonlySet<number> = new Set([48, 63, 64, 74, 79, 95, 119, 120]);
export const DEGRADING_XIDS: ReadonlySet<number> = new Set([92, 94]);

/** Hardware clock reasons that mean the GPU is held below its clocks by a fault or the environment. */
export const DEGRADING_CLOCK_REASONS: ReadonlySet<string> = new Set([
  "hw_slowdown",
  "hw_thermal_slowdown",
  "hw_power_brake_slowdown",
  "sw_thermal_slowdown",
]);

export interface XidSeen {
  code: number;
  /** Monotonic sequence of the kernel record; higher = newer. */
  seq: number;
}

export interface VerdictOptions {
  /** Xid codes the operator told the hive to ignore (--gpu-health-ignore-xid). */
  ignoreXids?: ReadonlySet<number>;
}

/**
 * One GPU's verdict from its values now, its uncorrected aggregate ECC count at the previous tick
 * and the Xids seen since the hive started. Pure: every rule is one `if`.
 *
 * PCIe: only a link *width* below its maximum degrades. The link *generation* drops at idle for power
 * saving (ASPM / dynamic link speed: an idle H100 may train down from Gen5) and returns under load,
 * so a generation below max is normal and not judged.
 */
export function judgeGpu(
  device: GpuDevice,
  previousUncorrectedAggregate: bigint | undefined,
  xids: readonly XidSeen[],
  opts: VerdictOptions = {},
): GpuHealth {
  const h = device.health ?? create(GpuHealthSchema, {});
  const unhealthy: string[] = [];
  const degraded: string[] = [];
  const repair = h.memoryRepair;
  const ecc = h.ecc;

  if (repair?.remappedRowsPending === true) unhealthy.push("remapped_rows.pending: Yes (reset needed to remap)");
  if (repair?.remappedRowsFailure === true) unhealthy.push("remapped_rows.failure: Yes");
  if (ecc?.uncorrectedVolatile !== undefined && ecc.uncorrectedVolatile > 0n) {
    unhealthy.push(`ecc.errors.uncorrected.volatile.total: ${ecc.uncorrectedVolatile}`);
  }
  if (
    ecc?.uncorrectedAggregate !== undefined &&
    previousUncorrectedAggregate !== undefined &&
    ecc.uncorrectedAggregate > previousUncorrectedAggregate
  ) {
    unhealthy.push(`ecc.errors.uncorrected.aggregate.total rose ${previousUncorrectedAggregate} → ${ecc.uncorrectedAggregate}`);
  }
  const ignored = opts.ignoreXids ?? new Set<number>();
  const codes = [...new Set(xids.map((x) => x.code))].filter((c) => !ignored.has(c)).sort((a, b) => a - b);
  for (const code of codes) {
    if (RESET_NEEDED_XIDS.has(code)) unhealthy.push(`Xid ${code} (reset needed)`);
    else if (DEGRADING_XIDS.has(code)) degraded.push(`Xid ${code}`);
  }

  if (repair?.retiredPagesPending === true) degraded.push("retired_pages.pending: Yes");
  if (device.pcieLinkWidth !== undefined && device.pcieLinkWidthMax !== undefined && device.pcieLinkWidth < device.pcieLinkWidthMax) {
    degraded.push(`pcie.link.width x${device.pcieLinkWidth} below max x${device.pcieLinkWidthMax}`);
  }
  for (const reason of h.clockEventReasons?.active ?? []) {
    if (DEGRADING_CLOCK_REASONS.has(reason)) degraded.push(`${h.clockEventReasons?.fieldFamily ?? "clocks_event_reasons"}.${reason}: Active`);
  }

  const state =
    unhealthy.length > 0 ? GpuHealthState.UNHEALTHY : degraded.length > 0 ? GpuHealthState.DEGRADED : GpuHealthState.HEALTHY;
  return { ...h, state, reasons: [...unhealthy, ...degraded] };
}
