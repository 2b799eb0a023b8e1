import { contentLines, excerpt, type ParseResult } from "./smi-csv.js";

/** SM and memory utilisation of one process on one GPU, averaged over pmon's samples. */
export interface PmonEntry {
  gpuIndex: number;
  pid: number;
  /** "C", "G", "C+G" or absent. */
  type?: string;
  smPct?: number;
  memPct?: number;
  /** pmon cuts names at 16 characters. */
  command?: string;
}

export const PMON_ARGS = ["pmon", "-c", "1", "-s", "u"];

interface Accumulator {
  entry: PmonEntry;
  smSum: number;
  smCount: number;
  memSum: number;
  memCount: number;
}

function readPct(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^\d+(\.\d+)?$/.test(raw)) return undefined;
  const v = Number(raw);
  return v >= 0 && v <= 100 ? v : undefined;
}

/**
 * Parses `nvidia-smi pmon` output. Columns are named by the `# gpu pid type …` header
 * (layouts differ across drivers; the header may repeat in a stream); `-` means unknown;
 * a row with pid `-` is an idle GPU. The last column (command) may contain spaces.
 * Several samples of one (gpu, pid) are averaged. Never throws.
 */
export function parsePmon(text: string): ParseResult<PmonEntry[]> {
  const lines = contentLines(text);
  if (lines.length === 0) return { ok: true, value: [], warnings: [] };
  let columns: string[] | undefined;
  const warnings: string[] = [];
  const byKey = new Map<string, Accumulator>();
  let dataRows = 0;
  lines.forEach((line, n) => {
    const trimmed = line.trim();
    if (trimmed.startsWith("#")) {
      const names = trimmed.slice(1).trim().toLowerCase().split(/\s+/);
      if (names.includes("gpu") && names.includes("pid")) columns = names;
      return;
    }
    if (!columns) return;
    const tokens = trimmed.split(/\s+/);
    const commandAt = columns.indexOf("command");
    const fixed = commandAt >= 0 ? commandAt : columns.length;
    if (tokens.length < fixed) {
      warnings.push(`line ${n + 1}: ${tokens.length} columns, expected at least ${fixed}: ${excerpt(line, 80)}`);
      return;
    }
    const get = (c: string): string | undefined => {
      const i = columns!.indexOf(c);
      return i < 0 || i >= fixed ? undefined : tokens[i];
    };
    const gpu = get("gpu");
    const pid = get("pid");
    if (gpu === undefined || !/^\d+$/.test(gpu)) {
      warnings.push(`line ${n + 1}: unreadable gpu index: ${excerpt(line, 80)}`);
      return;
    }
    dataRows++;
    if (pid === "-") return; // idle GPU
    if (pid === undefined || !/^\d+$/.test(pid)) {
      warnings.push(`line ${n + 1}: unreadable pid: ${excerpt(line, 80)}`);
      return;
    }
    const key = `${gpu}:${pid}`;
    let acc = byKey.get(key);
    if (!acc) {
      acc = { entry: { gpuIndex: Number(gpu), pid: Number(pid) }, smSum: 0, smCount: 0, memSum: 0, memCount: 0 };
      byKey.set(key, acc);
    }
    const type = get("type");
    if (type && type !== "-") acc.entry.type = type;
    const command = commandAt >= 0 ? line.trim().split(/\s+/).slice(commandAt).join(" ") : undefined;
    if (command && command !== "-") acc.entry.command = command;
    const sm = readPct(get("sm"));
    if (sm !== undefined) {
      acc.smSum += sm;
      acc.smCount++;
    }
    const mem = readPct(get("mem"));
    if (mem !== undefined) {
      acc.memSum += mem;
      acc.memCount++;
    }
  });
  if (!columns) return { ok: false, error: `nvidia-smi pmon output has no "# gpu pid …" header: ${excerpt(text)}` };
  if (dataRows === 0 && warnings.length > 0) {
    return { ok: false, error: `no readable rows in nvidia-smi pmon output: ${warnings[0]}` };
  }
  const entries = [...byKey.values()].map(({ entry, smSum, smCount, memSum, memCount }) => ({
    ...entry,
    ...(smCount > 0 ? { smPct: smSum / smCount } : {}),
    ...(memCount > 0 ? { memPct: memSum / memCount } : {}),
  }));
  return { ok: true, value: entries, warnings };
}
