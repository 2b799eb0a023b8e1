import { timestampDate } from "@bufbuild/protobuf/wkt";
import { GpuHealthState, type GpuDevice, type GpuHealth } from "../../../gen/apiary/v1/telemetry_pb.js";
import { bytes, DASH, pct } from "../format.js";

/** "healthy" | "degraded" | "unhealthy" | "-" (not judged: an old hive, or no probe yet). */
export function gpuHealth(h: GpuHealth | undefined): string {
  if (!h || h.state === GpuHealthState.UNSPECIFIED) return DASH;
  return GpuHealthState[h.state]?.toLowerCase() ?? String(h.state);
}

/** The verdict with its reasons on one line, e.g. "unhealthy: Xid 79 (reset needed)". */
export function gpuHealthLine(h: GpuHealth | undefined): string {
  const state = gpuHealth(h);
  return h && h.reasons.length > 0 ? `${state}: ${h.reasons.join("; ")}` : state;
}

const yesNo = (v: boolean | undefined) => (v === undefined ? DASH : v ? "yes" : "no");
const num = (v: number | bigint | undefined) => (v === undefined ? DASH : String(v));

/** `apiary describe device`: every health field the hive reported, then the recent Xids. */
export function formatDevice(hiveId: string, d: GpuDevice): string {
  const h = d.health;
  const ecc = h?.ecc;
  const repair = h?.memoryRepair;
  const clocks = h?.clockEventReasons;
  const fields: [string, string][] = [
    ["GPU", `${d.index} (${d.uuid})`],
    ["Hive", hiveId],
    ["Name", d.name || DASH],
    ...(d.parentUuid ? ([["MIG instance of", `${d.parentUuid} (profile ${d.migProfile || DASH})`]] as [string, string][]) : []),
    ["Health", gpuHealth(h)],
    ["Reasons", h && h.reasons.length > 0 ? h.reasons.join("; ") : "<none>"],
    ["Memory", `${bytes(d.memoryUsedBytes)} / ${bytes(d.memoryTotalBytes)}`],
    ["Utilisation", pct(d.utilizationPct)],
    ["Temperature", d.temperatureC === undefined ? DASH : `${d.temperatureC}°C`],
    ["PCI bus", d.pciBusId || DASH],
    ["PCIe link", `gen ${num(d.pcieLinkGen)} of ${num(d.pcieLinkGenMax)}, x${num(d.pcieLinkWidth)} of x${num(d.pcieLinkWidthMax)}`],
    ["Clocks", `SM ${num(d.smClockMhz)} of ${num(d.smClockMaxMhz)} MHz, memory ${num(d.memClockMhz)} of ${num(d.memClockMaxMhz)} MHz, ${d.pstate || DASH}`],
    ["Clock events", clocks ? `${clocks.active.join(", ") || "<none>"} (${clocks.fieldFamily})` : DASH],
    ["ECC", ecc ? `mode ${yesNo(ecc.modeCurrent)}; uncorrected volatile ${num(ecc.uncorrectedVolatile)}, aggregate ${num(ecc.uncorrectedAggregate)}; corrected volatile ${num(ecc.correctedVolatile)}, aggregate ${num(ecc.correctedAggregate)}` : DASH],
    ["Row remapping", repair ? `pending ${yesNo(repair.remappedRowsPending)}, failure ${yesNo(repair.remappedRowsFailure)}, correctable ${num(repair.remappedRowsCorrectable)}, uncorrectable ${num(repair.remappedRowsUncorrectable)}` : DASH],
    ["Retired pages", repair ? `single-bit ${num(repair.retiredPagesSingleBit)}, double-bit ${num(repair.retiredPagesDoubleBit)}, pending ${yesNo(repair.retiredPagesPending)}` : DASH],
    ["MIG mode", d.migModeCurrent === undefined ? DASH : `${d.migModeCurrent ? "enabled" : "disabled"}${d.migModePending !== d.migModeCurrent ? ` (pending ${d.migModePending ? "enabled" : "disabled"})` : ""}`],
    ["Xid counts", h && h.xidCounts.length > 0 ? h.xidCounts.map((c) => `${c.code}×${c.count}`).join(", ") : "<none>"],
  ];
  const width = Math.max(...fields.map(([k]) => k.length)) + 2;
  let out = fields.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`).join("\n") + "\n";
  const recent = h?.recentXids ?? [];
  out += recent.length === 0 ? "Recent Xids:  <none>\n" : "Recent Xids:\n" + recent.map((x) => `  ${x.at ? timestampDate(x.at).toISOString() : DASH}  ${x.code}  ${x.text}`).join("\n") + "\n";
  return out;
}
