import type { GpuDevice, GpuHealth } from "../../../gen/apiary/v1/telemetry_pb.js";

// Hand-written like telemetry-equality.ts (reports are diffed every second); keep in step with
// telemetry.proto's GpuDevice fields 20–39 and GpuHealth.

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function gpuHealthEqual(a: GpuHealth | undefined, b: GpuHealth | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  if (a.state !== b.state || !sameStrings(a.reasons, b.reasons)) return false;
  const ea = a.ecc, eb = b.ecc;
  if (!ea !== !eb) return false;
  if (ea && eb && (ea.modeCurrent !== eb.modeCurrent || ea.modePending !== eb.modePending || ea.correctedVolatile !== eb.correctedVolatile || ea.uncorrectedVolatile !== eb.uncorrectedVolatile || ea.correctedAggregate !== eb.correctedAggregate || ea.uncorrectedAggregate !== eb.uncorrectedAggregate)) return false;
  const ma = a.memoryRepair, mb = b.memoryRepair;
  if (!ma !== !mb) return false;
  if (ma && mb && (ma.retiredPagesSingleBit !== mb.retiredPagesSingleBit || ma.retiredPagesDoubleBit !== mb.retiredPagesDoubleBit || ma.retiredPagesPending !== mb.retiredPagesPending || ma.remappedRowsCorrectable !== mb.remappedRowsCorrectable || ma.remappedRowsUncorrectable !== mb.remappedRowsUncorrectable || ma.remappedRowsPending !== mb.remappedRowsPending || ma.remappedRowsFailure !== mb.remappedRowsFailure)) return false;
  const ca = a.clockEventReasons, cb = b.clockEventReasons;
  if (!ca !== !cb) return false;
  if (ca && cb && (ca.fieldFamily !== cb.fieldFamily || ca.activeMask !== cb.activeMask || !sameStrings(ca.active, cb.active))) return false;
  if (a.xidCounts.length !== b.xidCounts.length || a.recentXids.length !== b.recentXids.length) return false;
  for (let i = 0; i < a.xidCounts.length; i++) if (a.xidCounts[i].code !== b.xidCounts[i].code || a.xidCounts[i].count !== b.xidCounts[i].count) return false;
  const la = a.recentXids.at(-1), lb = b.recentXids.at(-1);
  return la?.code === lb?.code && la?.text === lb?.text && la?.at?.seconds === lb?.at?.seconds && la?.at?.nanos === lb?.at?.nanos;
}

/** The health, clock, PCIe and MIG fields of two reports of a GPU are the same. */
export function deviceHealthFieldsEqual(a: GpuDevice, b: GpuDevice): boolean {
  return (
    a.pstate === b.pstate &&
    a.smClockMhz === b.smClockMhz &&
    a.smClockMaxMhz === b.smClockMaxMhz &&
    a.memClockMhz === b.memClockMhz &&
    a.memClockMaxMhz === b.memClockMaxMhz &&
    a.pcieLinkGen === b.pcieLinkGen &&
    a.pcieLinkGenMax === b.pcieLinkGenMax &&
    a.pcieLinkWidth === b.pcieLinkWidth &&
    a.pcieLinkWidthMax === b.pcieLinkWidthMax &&
    a.migModeCurrent === b.migModeCurrent &&
    a.migModePending === b.migModePending &&
    a.parentUuid === b.parentUuid &&
    a.migProfile === b.migProfile &&
    gpuHealthEqual(a.health, b.health)
  );
}
