import { create } from "@bufbuild/protobuf";
import {
  GpuClockEventReasonsSchema,
  GpuEccCountsSchema,
  GpuHealthSchema,
  GpuMemoryRepairSchema,
  type GpuDevice,
  type GpuHealth,
} from "../../../gen/apiary/v1/telemetry_pb.js";
import { isUnknownValue, parseNumberValue } from "./smi-csv.js";

/** Newer drivers name the clock reasons clocks_event_reasons.*, older ones clocks_throttle_reasons.*. */
export type ClockReasonFamily = "clocks_event_reasons" | "clocks_throttle_reasons";
export const CLOCK_REASON_FAMILIES: readonly ClockReasonFamily[] = ["clocks_event_reasons", "clocks_throttle_reasons"];

export const CLOCK_REASONS = [
  "gpu_idle",
  "applications_clocks_setting",
  "sw_power_cap",
  "hw_slowdown",
  "hw_thermal_slowdown",
  "hw_power_brake_slowdown",
  "sw_thermal_slowdown",
  "sync_boost",
] as const;

/** The health fields asked for in the same --query-gpu call as the rest (no extra call per tick). */
export function healthFields(family: ClockReasonFamily): string[] {
  return [
    "ecc.mode.current",
    "ecc.mode.pending",
    "ecc.errors.corrected.volatile.total",
    "ecc.errors.uncorrected.volatile.total",
    "ecc.errors.corrected.aggregate.total",
    "ecc.errors.uncorrected.aggregate.total",
    "retired_pages.single_bit_ecc.count",
    "retired_pages.double_bit.count",
    "retired_pages.pending",
    "remapped_rows.correctable",
    "remapped_rows.uncorrectable",
    "remapped_rows.pending",
    "remapped_rows.failure",
    `${family}.active`,
    ...CLOCK_REASONS.map((r) => `${family}.${r}`),
    "clocks.current.sm",
    "clocks.max.sm",
    "clocks.current.memory",
    "clocks.max.memory",
    "pcie.link.gen.current",
    "pcie.link.gen.max",
    "pcie.link.width.current",
    "pcie.link.width.max",
    "pstate",
    "mig.mode.current",
    "mig.mode.pending",
  ];
}

/** Short names nvidia-smi accepts; the header prints the long one. */
export const HEALTH_ALIASES: Record<string, string> = {
  "clocks.sm": "clocks.current.sm",
  "clocks.mem": "clocks.current.memory",
  "clocks.max.mem": "clocks.max.memory",
  "retired_pages.sbe": "retired_pages.single_bit_ecc.count",
  "retired_pages.dbe": "retired_pages.double_bit.count",
};

type Setter = (d: GpuDevice, raw: string) => string | undefined;

function health(d: GpuDevice): GpuHealth {
  d.health ??= create(GpuHealthSchema, {});
  return d.health;
}

/** "Enabled"/"Yes"/"Active" → true, "Disabled"/"No"/"Not Active" → false; undefined for unknown; null for garbage. */
export function parseFlag(raw: string): boolean | undefined | null {
  if (isUnknownValue(raw)) return undefined;
  const v = raw.trim().toLowerCase();
  if (v === "enabled" || v === "yes" || v === "active") return true;
  if (v === "disabled" || v === "no" || v === "not active") return false;
  return null;
}

function count(raw: string): number | undefined | null {
  const n = parseNumberValue(raw);
  if (n === undefined || n === null) return n;
  return Number.isInteger(n.value) && n.value >= 0 ? n.value : null;
}

function countSetter(assign: (d: GpuDevice, v: number) => void, max = Number.MAX_SAFE_INTEGER): Setter {
  return (d, raw) => {
    const n = count(raw);
    if (n === undefined) return undefined;
    if (n === null || n > max) return `unreadable count "${raw}"`;
    assign(d, n);
    return undefined;
  };
}

function flagSetter(assign: (d: GpuDevice, v: boolean) => void): Setter {
  return (d, raw) => {
    const f = parseFlag(raw);
    if (f === undefined) return undefined;
    if (f === null) return `unreadable flag "${raw}"`;
    assign(d, f);
    return undefined;
  };
}

const U32 = 0xffff_ffff;
const ecc = (d: GpuDevice) => (health(d).ecc ??= create(GpuEccCountsSchema, {}));
const repair = (d: GpuDevice) => (health(d).memoryRepair ??= create(GpuMemoryRepairSchema, {}));

function reasons(d: GpuDevice, family: ClockReasonFamily) {
  const r = (health(d).clockEventReasons ??= create(GpuClockEventReasonsSchema, {}));
  r.fieldFamily = family;
  return r;
}

function clockReasonSetters(family: ClockReasonFamily): Record<string, Setter> {
  const setters: Record<string, Setter> = {
    [`${family}.active`]: (d, raw) => {
      if (isUnknownValue(raw)) return undefined;
      if (!/^0x[0-9a-f]{1,16}$/i.test(raw.trim())) return `unreadable mask "${raw}"`;
      reasons(d, family).activeMask = BigInt(raw.trim());
      return undefined;
    },
  };
  for (const reason of CLOCK_REASONS) {
    setters[`${family}.${reason}`] = flagSetter((d, active) => {
      const r = reasons(d, family);
      if (active && !r.active.includes(reason)) r.active.push(reason);
    });
  }
  return setters;
}

export const HEALTH_SETTERS: Record<string, Setter> = {
  "ecc.mode.current": flagSetter((d, v) => (ecc(d).modeCurrent = v)),
  "ecc.mode.pending": flagSetter((d, v) => (ecc(d).modePending = v)),
  "ecc.errors.corrected.volatile.total": countSetter((d, v) => (ecc(d).correctedVolatile = BigInt(v))),
  "ecc.errors.uncorrected.volatile.total": countSetter((d, v) => (ecc(d).uncorrectedVolatile = BigInt(v))),
  "ecc.errors.corrected.aggregate.total": countSetter((d, v) => (ecc(d).correctedAggregate = BigInt(v))),
  "ecc.errors.uncorrected.aggregate.total": countSetter((d, v) => (ecc(d).uncorrectedAggregate = BigInt(v))),
  "retired_pages.single_bit_ecc.count": countSetter((d, v) => (repair(d).retiredPagesSingleBit = v), U32),
  "retired_pages.double_bit.count": countSetter((d, v) => (repair(d).retiredPagesDoubleBit = v), U32),
  "retired_pages.pending": flagSetter((d, v) => (repair(d).retiredPagesPending = v)),
  "remapped_rows.correctable": countSetter((d, v) => (repair(d).remappedRowsCorrectable = v), U32),
  "remapped_rows.uncorrectable": countSetter((d, v) => (repair(d).remappedRowsUncorrectable = v), U32),
  "remapped_rows.pending": flagSetter((d, v) => (repair(d).remappedRowsPending = v)),
  "remapped_rows.failure": flagSetter((d, v) => (repair(d).remappedRowsFailure = v)),
  ...clockReasonSetters("clocks_event_reasons"),
  ...clockReasonSetters("clocks_throttle_reasons"),
  "clocks.current.sm": countSetter((d, v) => (d.smClockMhz = v), U32),
  "clocks.max.sm": countSetter((d, v) => (d.smClockMaxMhz = v), U32),
  "clocks.current.memory": countSetter((d, v) => (d.memClockMhz = v), U32),
  "clocks.max.memory": countSetter((d, v) => (d.memClockMaxMhz = v), U32),
  "pcie.link.gen.current": countSetter((d, v) => (d.pcieLinkGen = v), 64),
  "pcie.link.gen.max": countSetter((d, v) => (d.pcieLinkGenMax = v), 64),
  "pcie.link.width.current": countSetter((d, v) => (d.pcieLinkWidth = v), 64),
  "pcie.link.width.max": countSetter((d, v) => (d.pcieLinkWidthMax = v), 64),
  pstate: (d, raw) => {
    if (isUnknownValue(raw)) return undefined;
    if (!/^P\d{1,2}$/.test(raw.trim())) return `unreadable pstate "${raw}"`;
    d.pstate = raw.trim();
    return undefined;
  },
  "mig.mode.current": flagSetter((d, v) => (d.migModeCurrent = v)),
  "mig.mode.pending": flagSetter((d, v) => (d.migModePending = v)),
};

/** `Field "clocks_event_reasons.active" is not a valid field to query.` → the field name. */
export function rejectedField(text: string): string | undefined {
  return /Field "([^"]+)" is not a valid field to query/i.exec(text)?.[1];
}
