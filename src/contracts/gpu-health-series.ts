import { Counter, Gauge, type Registry } from "prom-client";
import { GpuHealthState, type GpuDevice } from "../../gen/apiary/v1/telemetry_pb.js";
import { enumLabel } from "../common/enum-label.js";
import { DEVICE_LABELS, type DeviceSeries, type TelemetrySource } from "./telemetry-series.js";

// Per-GPU health series, each named after the dcgm-exporter field it matches (docs/gpu-health.md
// has the table). Values the driver does not report have no sample, never 0.

const num = (v: bigint | number | undefined) => (v === undefined ? undefined : Number(v));
const flag = (v: boolean | undefined) => (v === undefined ? undefined : v ? 1 : 0);
const mhzToHz = (v: number | undefined) => (v === undefined ? undefined : v * 1e6);

export const GPU_HEALTH_SERIES: readonly DeviceSeries[] = [
  { name: "apiary_gpu_ecc_uncorrected_volatile_errors", help: "Uncorrected ECC errors since the driver loaded (DCGM_FI_DEV_ECC_DBE_VOL_TOTAL).", value: (d) => num(d.health?.ecc?.uncorrectedVolatile) },
  { name: "apiary_gpu_ecc_corrected_volatile_errors", help: "Corrected ECC errors since the driver loaded (DCGM_FI_DEV_ECC_SBE_VOL_TOTAL).", value: (d) => num(d.health?.ecc?.correctedVolatile) },
  { name: "apiary_gpu_ecc_uncorrected_aggregate_errors", help: "Uncorrected ECC errors over the GPU's life (DCGM_FI_DEV_ECC_DBE_AGG_TOTAL).", value: (d) => num(d.health?.ecc?.uncorrectedAggregate) },
  { name: "apiary_gpu_ecc_corrected_aggregate_errors", help: "Corrected ECC errors over the GPU's life (DCGM_FI_DEV_ECC_SBE_AGG_TOTAL).", value: (d) => num(d.health?.ecc?.correctedAggregate) },
  { name: "apiary_gpu_row_remap_pending", help: "1 when a row remap waits for a GPU reset (DCGM_FI_DEV_ROW_REMAP_PENDING).", value: (d) => flag(d.health?.memoryRepair?.remappedRowsPending) },
  { name: "apiary_gpu_row_remap_failure", help: "1 when a row remap failed (DCGM_FI_DEV_ROW_REMAP_FAILURE).", value: (d) => flag(d.health?.memoryRepair?.remappedRowsFailure) },
  { name: "apiary_gpu_remapped_rows_correctable", help: "Rows remapped for correctable errors (DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS).", value: (d) => num(d.health?.memoryRepair?.remappedRowsCorrectable) },
  { name: "apiary_gpu_remapped_rows_uncorrectable", help: "Rows remapped for uncorrectable errors (DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS).", value: (d) => num(d.health?.memoryRepair?.remappedRowsUncorrectable) },
  { name: "apiary_gpu_retired_pages_single_bit", help: "Pages retired for single-bit errors (DCGM_FI_DEV_RETIRED_SBE).", value: (d) => num(d.health?.memoryRepair?.retiredPagesSingleBit) },
  { name: "apiary_gpu_retired_pages_double_bit", help: "Pages retired for double-bit errors (DCGM_FI_DEV_RETIRED_DBE).", value: (d) => num(d.health?.memoryRepair?.retiredPagesDoubleBit) },
  { name: "apiary_gpu_retired_pages_pending", help: "1 when a page retirement waits for a reboot (DCGM_FI_DEV_RETIRED_PENDING).", value: (d) => flag(d.health?.memoryRepair?.retiredPagesPending) },
  { name: "apiary_gpu_clock_event_reasons", help: "Bit mask of the active clock event (throttle) reasons (DCGM_FI_DEV_CLOCKS_EVENT_REASONS, formerly DCGM_FI_DEV_CLOCK_THROTTLE_REASONS).", value: (d) => num(d.health?.clockEventReasons?.activeMask) },
  { name: "apiary_gpu_sm_clock_hertz", help: "SM clock, hertz (DCGM_FI_DEV_SM_CLOCK, MHz).", value: (d) => mhzToHz(d.smClockMhz) },
  { name: "apiary_gpu_sm_clock_max_hertz", help: "Maximum SM clock, hertz (DCGM_FI_DEV_MAX_SM_CLOCK, MHz).", value: (d) => mhzToHz(d.smClockMaxMhz) },
  { name: "apiary_gpu_memory_clock_hertz", help: "Memory clock, hertz (DCGM_FI_DEV_MEM_CLOCK, MHz).", value: (d) => mhzToHz(d.memClockMhz) },
  { name: "apiary_gpu_memory_clock_max_hertz", help: "Maximum memory clock, hertz (DCGM_FI_DEV_MAX_MEM_CLOCK, MHz).", value: (d) => mhzToHz(d.memClockMaxMhz) },
  { name: "apiary_gpu_pcie_link_generation", help: "Current PCIe link generation (DCGM_FI_DEV_PCIE_LINK_GEN).", value: (d) => d.pcieLinkGen },
  { name: "apiary_gpu_pcie_link_generation_max", help: "Maximum PCIe link generation (DCGM_FI_DEV_PCIE_MAX_LINK_GEN).", value: (d) => d.pcieLinkGenMax },
  { name: "apiary_gpu_pcie_link_width", help: "Current PCIe link width, lanes (DCGM_FI_DEV_PCIE_LINK_WIDTH).", value: (d) => d.pcieLinkWidth },
  { name: "apiary_gpu_pcie_link_width_max", help: "Maximum PCIe link width, lanes (DCGM_FI_DEV_PCIE_MAX_LINK_WIDTH).", value: (d) => d.pcieLinkWidthMax },
  { name: "apiary_gpu_performance_state", help: "Performance state, 0 (P0, most performance) to 15 (DCGM_FI_DEV_PSTATE).", value: (d) => (/^P\d{1,2}$/.test(d.pstate) ? Number(d.pstate.slice(1)) : undefined) },
  { name: "apiary_gpu_xid_last", help: "Code of the GPU's most recent Xid event seen by the hive (DCGM_FI_DEV_XID_ERRORS).", value: (d) => d.health?.recentXids.at(-1)?.code },
];

const HEALTH_STATES = [GpuHealthState.HEALTHY, GpuHealthState.DEGRADED, GpuHealthState.UNHEALTHY];

function labelsOf(hiveId: string, d: GpuDevice) {
  return { hive: hiveId, gpu: String(d.index), uuid: d.uuid, model_name: d.name };
}

/** The verdict (one series per state, 1 for the current one) and Xid events counted by code. */
export function registerGpuHealthSeries(registry: Registry, source: TelemetrySource): void {
  new Gauge({
    name: "apiary_gpu_health",
    help: "1 for the GPU's health verdict (healthy, degraded, unhealthy), 0 for the others; no series while not judged.",
    labelNames: [...DEVICE_LABELS, "state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const hive of source()) {
        for (const d of hive.devices) {
          const state = d.health?.state ?? GpuHealthState.UNSPECIFIED;
          if (state === GpuHealthState.UNSPECIFIED) continue;
          for (const s of HEALTH_STATES) this.set({ ...labelsOf(hive.hiveId, d), state: enumLabel(GpuHealthState, s) }, s === state ? 1 : 0);
        }
      }
    },
  });
  new Counter({
    name: "apiary_gpu_xid_events_total",
    help: "Xid events of the GPU in the kernel log since its hive started, by code (counted like DCGM_FI_DEV_XID_ERRORS changes).",
    labelNames: [...DEVICE_LABELS, "xid"],
    registers: [registry],
    collect() {
      this.reset();
      for (const hive of source()) {
        for (const d of hive.devices) {
          for (const c of d.health?.xidCounts ?? []) this.inc({ ...labelsOf(hive.hiveId, d), xid: String(c.code) }, Number(c.count));
        }
      }
    },
  });
}
