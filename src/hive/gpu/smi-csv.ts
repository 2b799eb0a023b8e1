// Shared reading of nvidia-smi's `--format=csv[,noheader][,nounits]` output.
// nvidia-smi does not quote values: columns are separated by ", ".

export type ParseResult<T> =
  | { ok: true; value: T; warnings: string[] }
  | { ok: false; error: string };

const UNKNOWN_VALUES = new Set(["", "n/a", "[n/a]", "[not supported]", "[unknown error]", "not supported", "-"]);

/** True for the driver's ways of saying "no value" ("[N/A]", "[Not Supported]", "N/A", "[Unknown Error]", ""). */
export function isUnknownValue(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  return UNKNOWN_VALUES.has(v) || (v.startsWith("[") && v.endsWith("]"));
}

export function splitCsvLine(line: string): string[] {
  return line.split(",").map((v) => v.trim());
}

/** Non-empty lines, without a trailing carriage return. */
export function contentLines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.replace(/\r$/, ""))
    .filter((l) => l.trim() !== "");
}

/** "memory.total [MiB]" → "memory.total". */
export function headerFieldName(column: string): string {
  return column.replace(/\s*\[[^\]]*\]\s*$/, "").trim().toLowerCase();
}

const FIELD_NAME = /^[a-z_][a-z0-9_.]*$/;

/** A header row: every column is a field name (optionally with a [unit]) and one of them is known. */
export function isHeaderRow(columns: string[], known: ReadonlySet<string>): boolean {
  const names = columns.map(headerFieldName);
  return names.every((n) => FIELD_NAME.test(n)) && names.some((n) => known.has(n));
}

/**
 * The columns and data rows of a csv answer: named by its header row when it has one (the header
 * wins), else by the `fields` the query asked for (`noheader`).
 */
export function columnsAndRows(
  lines: string[],
  fields: readonly string[],
  known: ReadonlySet<string>,
  canonical: (field: string) => string,
): { columns: string[]; rows: string[] } {
  const first = splitCsvLine(lines[0]);
  if (isHeaderRow(first, known)) return { columns: first.map(canonical), rows: lines.slice(1) };
  return { columns: fields.map(canonical), rows: lines };
}

const NUMBER_WITH_UNIT = /^([-+]?\d+(?:\.\d+)?)\s*([A-Za-z%]*)$/;

export interface NumberValue {
  value: number;
  unit: string;
}

/** Parses "81559", "81559 MiB", "69.85 W", "7 %"; undefined for unknown values; null for garbage. */
export function parseNumberValue(raw: string): NumberValue | undefined | null {
  if (isUnknownValue(raw)) return undefined;
  const m = NUMBER_WITH_UNIT.exec(raw.trim());
  if (!m) return null;
  const value = Number(m[1]);
  return Number.isFinite(value) ? { value, unit: m[2] } : null;
}

const MEMORY_UNIT_BYTES: Record<string, bigint> = {
  "": 1024n * 1024n, // nounits: nvidia-smi reports memory in MiB
  mib: 1024n * 1024n,
  gib: 1024n * 1024n * 1024n,
  kib: 1024n,
  b: 1n,
};

/** Memory value in bytes; undefined for unknown, null for garbage. */
export function parseMemoryBytes(raw: string): bigint | undefined | null {
  const n = parseNumberValue(raw);
  if (n === undefined || n === null) return n;
  const factor = MEMORY_UNIT_BYTES[n.unit.toLowerCase()];
  if (factor === undefined || n.value < 0) return null;
  return (BigInt(Math.round(n.value * 1024)) * factor) / 1024n;
}

/** First lines of a text, for error messages about unreadable output. */
export function excerpt(text: string, maxChars = 200): string {
  const t = text.trim().replace(/\s+/g, " ");
  if (t === "") return "(empty)";
  return t.length > maxChars ? `${t.slice(0, maxChars)}…` : t;
}
