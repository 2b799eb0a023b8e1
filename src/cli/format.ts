import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { HiveHealth } from "../../gen/apiary/v1/queen_pb.js";
import { WorkerState, GpuProbeState } from "../../gen/apiary/v1/telemetry_pb.js";
import { formatBytes } from "../common/units.js";

export const DASH = "-";

export function bytes(n: bigint | number | undefined): string {
  return n === undefined ? DASH : formatBytes(n);
}

export function pct(n: number | undefined): string {
  return n === undefined ? DASH : `${n.toFixed(n >= 100 ? 0 : 1)}%`;
}

/** Bytes per second in decimal megabytes, as disk tools print them. */
export function rate(n: number | undefined): string {
  if (n === undefined) return DASH;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB/s`;
  return `${(n / 1e6).toFixed(1)} MB/s`;
}

export function health(h: HiveHealth): string {
  return HiveHealth[h]?.toLowerCase() ?? String(h);
}

export function workerState(s: WorkerState): string {
  return WorkerState[s]?.toLowerCase() ?? String(s);
}

export function probeState(s: GpuProbeState | undefined): string {
  return s === undefined ? DASH : (GpuProbeState[s]?.toLowerCase() ?? String(s));
}

/** "3s ago", "2m ago" relative to now. */
export function ago(ts: Timestamp | undefined, nowMs = Date.now()): string {
  if (!ts) return DASH;
  const seconds = Math.max(0, Math.round((nowMs - timestampMs(ts)) / 1000));
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}

export function labels(map: Record<string, string>): string {
  const entries = Object.entries(map);
  return entries.length === 0 ? DASH : entries.map(([k, v]) => `${k}=${v}`).join(",");
}

/** A bar of `width` cells filled in proportion to used/total. */
export function bar(used: bigint | undefined, total: bigint | undefined, width = 10): string {
  if (used === undefined || total === undefined || total === 0n) return " ".repeat(width);
  const filled = Math.min(width, Math.round((Number(used) / Number(total)) * width));
  return "#".repeat(filled) + ".".repeat(width - filled);
}

/** "1 hive", "2 hives"; `many` for irregular plurals. */
export function plural(n: number | bigint, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 || n === 1n ? one : many}`;
}
