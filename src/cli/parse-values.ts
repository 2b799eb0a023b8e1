import { UsageError } from "./command.js";
import { parseSize, parseDuration } from "../common/units.js";

/** `--label k=v` values (each may be a comma-separated list, as kubectl's -l) as a map; names the flag on a malformed entry. */
export function parseKeyValues(flag: string, values: string[] | undefined, commaLists = false): Record<string, string> {
  const out: Record<string, string> = {};
  const items = commaLists ? (values ?? []).flatMap((v) => v.split(",")).map((s) => s.trim()).filter(Boolean) : (values ?? []);
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`--${flag} ${item}: expected KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export function sizeFlag(flag: string, value: string | undefined): bigint | undefined {
  if (value === undefined) return undefined;
  try {
    return parseSize(value);
  } catch {
    throw new UsageError(`--${flag} ${value}: expected a size such as 8GiB, 512MiB or a number of bytes`);
  }
}

export function durationFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDuration(value);
  } catch {
    throw new UsageError(`--${flag} ${value}: expected a duration such as 500ms, 5s or 2m`);
  }
}

export function intFlag(flag: string, value: string | undefined, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${flag} ${value}: expected a whole number from ${min} to ${max}`);
  }
  return n;
}

/** `--cpu-max 1.5` (cores) as millicores. */
export function coresFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const cores = Number(value);
  if (!Number.isFinite(cores) || cores <= 0 || cores > 4096) {
    throw new UsageError(`--${flag} ${value}: expected a number of cores such as 0.5 or 2`);
  }
  return Math.round(cores * 1000);
}

export function choiceFlag<T>(flag: string, value: string | undefined, choices: Record<string, T>): T | undefined {
  if (value === undefined) return undefined;
  if (!(value in choices)) {
    throw new UsageError(`--${flag} ${value}: expected one of ${Object.keys(choices).join(", ")}`);
  }
  return choices[value];
}

export function numberFlag(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${flag} ${value}: expected a number from ${min} to ${max}`);
  }
  return n;
}
