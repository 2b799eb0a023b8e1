// Human-readable sizes and durations, as typed on the command line and shown in tables.

const SIZE_UNITS: Record<string, bigint> = {
  "": 1n,
  b: 1n,
  k: 1000n,
  kb: 1000n,
  m: 1000n ** 2n,
  mb: 1000n ** 2n,
  g: 1000n ** 3n,
  gb: 1000n ** 3n,
  t: 1000n ** 4n,
  tb: 1000n ** 4n,
  ki: 1024n,
  kib: 1024n,
  mi: 1024n ** 2n,
  mib: 1024n ** 2n,
  gi: 1024n ** 3n,
  gib: 1024n ** 3n,
  ti: 1024n ** 4n,
  tib: 1024n ** 4n,
};

const SIZE_PATTERN = /^(\d+)(?:\.(\d+))?\s*([a-z]*)$/i;

/** Parses "8GiB", "512MiB", "2GB", "1.5GiB", "1024" (bytes) into a byte count. */
export function parseSize(text: string): bigint {
  const match = SIZE_PATTERN.exec(text.trim());
  const multiplier = match ? SIZE_UNITS[match[3].toLowerCase()] : undefined;
  if (!match || multiplier === undefined) {
    throw new Error(`invalid size "${text}": expected a number with an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)`);
  }
  const fraction = match[2] ?? "";
  const scale = 10n ** BigInt(fraction.length);
  const scaled = BigInt(match[1] + fraction) * multiplier;
  if (scaled % scale !== 0n) {
    throw new Error(`invalid size "${text}": not a whole number of bytes`);
  }
  return scaled / scale;
}

const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/** Formats a byte count with binary units: 8053063680 → "7.5 GiB", 512 → "512 B". */
export function formatBytes(n: bigint | number): string {
  const bytes = typeof n === "bigint" ? Number(n) : n;
  if (!Number.isFinite(bytes)) return String(n);
  const sign = bytes < 0 ? "-" : "";
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${sign}${Math.round(value)} B`;
  const digits = value >= 100 ? 0 : 1;
  const shown = value.toFixed(digits).replace(/\.0$/, "");
  return `${sign}${shown} ${BINARY_UNITS[unit]}`;
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const DURATION_PATTERN = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)?$/i;

/** Parses "500ms", "5s", "1.5m", "2h", "1d" into milliseconds; a plain number means seconds. */
export function parseDuration(text: string): number {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) {
    throw new Error(`invalid duration "${text}": expected a number with an optional unit (ms, s, m, h, d; default s)`);
  }
  const unit = (match[2] ?? "s").toLowerCase();
  return Math.round(Number(match[1]) * DURATION_UNITS[unit]);
}

/** Formats milliseconds compactly: 250 → "250ms", 1500 → "1.5s", 90000 → "1m30s", 7200000 → "2h". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${trimDecimal(ms / 1000)}s`;
  const totalSeconds = Math.round(ms / 1000);
  const days = Math.floor(totalSeconds / 86_400);
  const hours = Math.floor((totalSeconds % 86_400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const parts: string[] = [];
  if (days) parts.push(`${days}d`);
  if (hours) parts.push(`${hours}h`);
  if (minutes) parts.push(`${minutes}m`);
  if (seconds && !days) parts.push(`${seconds}s`);
  return parts.join("") || "0s";
}

function trimDecimal(value: number): string {
  return value.toFixed(1).replace(/\.0$/, "");
}
