import {
  contentLines,
  excerpt,
  headerFieldName,
  columnsAndRows,
  isUnknownValue,
  parseMemoryBytes,
  splitCsvLine,
  type ParseResult,
} from "./smi-csv.js";

/** One process on one GPU; a process using several GPUs has one entry per GPU. */
export interface ComputeAppEntry {
  /** Absent only when the query did not ask for pid. */
  pid?: number;
  gpuUuid: string;
  /** Absent when the driver cannot tell ("[N/A]", e.g. Windows WDDM). */
  usedMemoryBytes?: bigint;
  processName?: string;
}

export const COMPUTE_APPS_FIELDS = ["pid", "gpu_uuid", "used_memory"] as const;

export const COMPUTE_APPS_ARGS = [
  `--query-compute-apps=${COMPUTE_APPS_FIELDS.join(",")}`,
  "--format=csv,noheader,nounits",
];

const ALIASES: Record<string, string> = {
  used_gpu_memory: "used_memory",
  name: "process_name",
};
const KNOWN = new Set(["pid", "gpu_uuid", "used_memory", "used_gpu_memory", "process_name", "gpu_name", "timestamp"]);

const NO_PROCESSES = /^\s*No running (compute )?processes found\s*$/i;

function canonical(field: string): string {
  const name = headerFieldName(field);
  return ALIASES[name] ?? name;
}

/** Joins the surplus of a row back into its process_name column (names may contain ", "). */
function fitColumns(values: string[], columns: string[]): string[] | undefined {
  if (values.length === columns.length) return values;
  const nameAt = columns.indexOf("process_name");
  if (values.length < columns.length || nameAt < 0) return undefined;
  const extra = values.length - columns.length;
  return [
    ...values.slice(0, nameAt),
    values.slice(nameAt, nameAt + extra + 1).join(", "),
    ...values.slice(nameAt + extra + 1),
  ];
}

/**
 * Parses `nvidia-smi --query-compute-apps=… --format=csv[,noheader][,nounits]`.
 * Header-only or empty output means no processes. Never throws.
 */
export function parseComputeApps(
  text: string,
  fields: readonly string[] = COMPUTE_APPS_FIELDS,
): ParseResult<ComputeAppEntry[]> {
  const lines = contentLines(text).filter((l) => !NO_PROCESSES.test(l));
  if (lines.length === 0) return { ok: true, value: [], warnings: [] };
  const { columns, rows } = columnsAndRows(lines, fields, KNOWN, canonical);
  if (!columns.includes("gpu_uuid")) {
    return { ok: false, error: "nvidia-smi --query-compute-apps output has no gpu_uuid column" };
  }
  const warnings: string[] = [];
  const entries: ComputeAppEntry[] = [];
  rows.forEach((line, row) => {
    const values = fitColumns(splitCsvLine(line), columns);
    if (!values) {
      warnings.push(`row ${row + 1}: expected ${columns.length} columns: ${excerpt(line, 80)}`);
      return;
    }
    const get = (c: string): string | undefined => {
      const i = columns.indexOf(c);
      return i < 0 ? undefined : values[i];
    };
    const uuid = get("gpu_uuid") ?? "";
    if (!/^(GPU|MIG)-[0-9A-Za-z-]+$/.test(uuid)) {
      warnings.push(`row ${row + 1}: unreadable gpu_uuid "${excerpt(uuid, 60)}"`);
      return;
    }
    const entry: ComputeAppEntry = { gpuUuid: uuid };
    const pid = get("pid");
    if (pid !== undefined) {
      if (!/^\d+$/.test(pid)) {
        warnings.push(`row ${row + 1}: unreadable pid "${excerpt(pid, 40)}"`);
        return;
      }
      entry.pid = Number(pid);
    }
    const memory = get("used_memory");
    if (memory !== undefined) {
      const bytes = parseMemoryBytes(memory);
      if (bytes === null) warnings.push(`row ${row + 1}: unreadable used_memory "${excerpt(memory, 40)}"`);
      else if (bytes !== undefined) entry.usedMemoryBytes = bytes;
    }
    const name = get("process_name");
    if (name !== undefined && !isUnknownValue(name)) entry.processName = name;
    entries.push(entry);
  });
  if (entries.length === 0 && rows.length > 0) {
    return { ok: false, error: `no process rows in nvidia-smi --query-compute-apps output: ${excerpt(text)}` };
  }
  return { ok: true, value: entries, warnings };
}
