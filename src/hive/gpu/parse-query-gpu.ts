import { create } from "@bufbuild/protobuf";
import { GpuDeviceSchema, type GpuDevice } from "../../../gen/apiary/v1/telemetry_pb.js";
import {
  contentLines,
  excerpt,
  headerFieldName,
  columnsAndRows,
  isUnknownValue,
  parseMemoryBytes,
  parseNumberValue,
  splitCsvLine,
  type ParseResult,
} from "./smi-csv.js";
import { HEALTH_ALIASES, HEALTH_SETTERS, healthFields, type ClockReasonFamily } from "./parse-gpu-health-fields.js";

/** The fields the probe asks for, in this order. */
export const QUERY_GPU_FIELDS = [
  "index",
  "uuid",
  "name",
  "memory.total",
  "memory.used",
  "utilization.gpu",
  "utilization.memory",
  "temperature.gpu",
  "power.draw",
  "power.limit",
  "compute_cap",
  "pci.bus_id",
] as const;

/** The core fields, then the health fields of one clock-reason family, less any the driver rejected. */
export function queryGpuFields(family: ClockReasonFamily = "clocks_event_reasons", rejected: ReadonlySet<string> = new Set()): string[] {
  return [...QUERY_GPU_FIELDS, ...healthFields(family).filter((f) => !rejected.has(f))];
}

export function queryGpuArgs(fields: readonly string[]): string[] {
  return [`--query-gpu=${fields.join(",")}`, "--format=csv,noheader,nounits"];
}

// nvidia-smi accepts aliases and prints the canonical name in the header.
const ALIASES: Record<string, string> = {
  gpu_name: "name",
  gpu_uuid: "uuid",
  gpu_bus_id: "pci.bus_id",
  ...HEALTH_ALIASES,
};

const KNOWN = new Set<string>([
  ...QUERY_GPU_FIELDS,
  ...healthFields("clocks_event_reasons"),
  ...healthFields("clocks_throttle_reasons"),
  ...Object.keys(ALIASES),
]);

function canonical(field: string): string {
  const name = headerFieldName(field);
  return ALIASES[name] ?? name;
}

type Setter = (d: GpuDevice, raw: string) => string | undefined;

function numberSetter(assign: (d: GpuDevice, v: number) => void, min: number, max: number): Setter {
  return (d, raw) => {
    const n = parseNumberValue(raw);
    if (n === undefined) return undefined;
    if (n === null || n.value < min || n.value > max) return `unreadable value "${raw}"`;
    assign(d, n.value);
    return undefined;
  };
}

function memorySetter(assign: (d: GpuDevice, v: bigint) => void): Setter {
  return (d, raw) => {
    const bytes = parseMemoryBytes(raw);
    if (bytes === undefined) return undefined;
    if (bytes === null) return `unreadable memory value "${raw}"`;
    assign(d, bytes);
    return undefined;
  };
}

function textSetter(assign: (d: GpuDevice, v: string) => void): Setter {
  return (d, raw) => {
    if (!isUnknownValue(raw)) assign(d, raw.trim());
    return undefined;
  };
}

const SETTERS: Record<string, Setter> = {
  index: (d, raw) => {
    const n = parseNumberValue(raw);
    if (n === undefined) return undefined;
    if (n === null || !Number.isInteger(n.value) || n.value < 0) return `unreadable index "${raw}"`;
    d.index = n.value;
    return undefined;
  },
  uuid: textSetter((d, v) => (d.uuid = v)),
  name: textSetter((d, v) => (d.name = v)),
  "memory.total": memorySetter((d, v) => (d.memoryTotalBytes = v)),
  "memory.used": memorySetter((d, v) => (d.memoryUsedBytes = v)),
  "utilization.gpu": numberSetter((d, v) => (d.utilizationPct = v), 0, 100),
  "utilization.memory": numberSetter((d, v) => (d.memoryUtilizationPct = v), 0, 100),
  "temperature.gpu": numberSetter((d, v) => (d.temperatureC = v), -100, 300),
  "power.draw": numberSetter((d, v) => (d.powerDrawW = v), 0, 100_000),
  "power.limit": numberSetter((d, v) => (d.powerLimitW = v), 0, 100_000),
  compute_cap: textSetter((d, v) => (d.computeCapability = v)),
  "pci.bus_id": textSetter((d, v) => (d.pciBusId = v)),
  ...HEALTH_SETTERS,
};

/**
 * Parses `nvidia-smi --query-gpu=… --format=csv[,noheader][,nounits]`.
 * `fields` names the columns when the output has no header; a header row, when
 * present, wins. Unknown values are left unset. Devices without an index get their
 * row position. Never throws.
 */
export function parseQueryGpu(text: string, fields: readonly string[] = QUERY_GPU_FIELDS): ParseResult<GpuDevice[]> {
  const lines = contentLines(text);
  if (lines.length === 0) return { ok: true, value: [], warnings: [] };
  const { columns, rows } = columnsAndRows(lines, fields, KNOWN, canonical);
  const warnings: string[] = [];
  const devices: GpuDevice[] = [];
  rows.forEach((line, row) => {
    const values = splitCsvLine(line);
    if (values.length !== columns.length) {
      warnings.push(`row ${row + 1}: ${values.length} columns, expected ${columns.length}: ${excerpt(line, 80)}`);
      return;
    }
    const device = create(GpuDeviceSchema, { index: row });
    const problems: string[] = [];
    columns.forEach((column, i) => {
      const problem = SETTERS[column]?.(device, values[i]);
      if (problem) problems.push(`${column}: ${problem}`);
    });
    // A row whose every known column is unreadable is not a GPU row (garbage, an error text).
    const knownColumns = columns.filter((c) => SETTERS[c]).length;
    if (knownColumns > 0 && problems.length === knownColumns) {
      warnings.push(`row ${row + 1}: not a GPU row: ${excerpt(line, 80)}`);
      return;
    }
    warnings.push(...problems.map((p) => `row ${row + 1}: ${p}`));
    devices.push(device);
  });
  if (devices.length === 0) {
    return { ok: false, error: `no GPU rows in nvidia-smi --query-gpu output: ${excerpt(text)}` };
  }
  return { ok: true, value: devices, warnings };
}
