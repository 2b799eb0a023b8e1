import { timestampDate, timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { ObjectEventLevel, type HiveStatus, type ObjectEvent } from "../../../gen/apiary/v1/queen_pb.js";
import { RestartPolicy, type GpuDevice, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { ago, bytes, DASH, health, labels, pct, probeState, rate, workerState } from "../format.js";
import { renderTable } from "../table.js";
import { gpuHealth } from "./describe-gpu.js";

type Field = [string, string];

function block(fields: Field[], indent = ""): string {
  const width = Math.max(...fields.map(([k]) => k.length)) + 2;
  return fields.map(([k, v]) => `${indent}${`${k}:`.padEnd(width)}${v}`.trimEnd()).join("\n") + "\n";
}

function when(ts: Timestamp | undefined, nowMs = Date.now()): string {
  if (!ts) return DASH;
  const ms = timestampMs(ts);
  return `${timestampDate(ts).toISOString()} (${ms > nowMs ? `in ${shortAge(ms - nowMs)}` : ago(ts, nowMs)})`;
}

function indented(text: string, by = "  "): string {
  return text.split("\n").map((line) => (line ? by + line : line)).join("\n");
}

export function formatEvents(events: ObjectEvent[], nowMs = Date.now()): string {
  if (events.length === 0) return "Events:  <none>\n";
  const rows = events.map((e) => [
    age(e, nowMs),
    e.level === ObjectEventLevel.WARNING ? "Warning" : "Normal",
    e.reason,
    String(Math.max(1, e.count)),
    e.message,
  ]);
  return "Events:\n" + indented(renderTable(["AGE", "TYPE", "REASON", ">COUNT", "MESSAGE"], rows));
}

/** kubectl's "last seen (xN over first seen)": the age of the latest occurrence, and of the first for repeats. */
function age(e: ObjectEvent, nowMs: number): string {
  if (!e.at) return DASH;
  const first = shortAge(nowMs - timestampMs(e.at));
  if (e.count <= 1 || !e.lastAt) return first;
  return `${shortAge(nowMs - timestampMs(e.lastAt))} (over ${first})`;
}

function shortAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

function device(d: GpuDevice): string[] {
  return [String(d.index), d.uuid, d.name, `${bytes(d.memoryUsedBytes)} / ${bytes(d.memoryTotalBytes)}`, pct(d.utilizationPct), d.temperatureC === undefined ? DASH : `${d.temperatureC}°C`, gpuHealth(d.health)];
}

/** The names `apiary spawn --restart` takes. */
export const RESTART_POLICIES: Record<string, RestartPolicy> = {
  never: RestartPolicy.NEVER,
  "on-failure": RestartPolicy.ON_FAILURE,
  always: RestartPolicy.ALWAYS,
};

export function restartPolicy(p: RestartPolicy): string {
  return p === RestartPolicy.UNSPECIFIED ? "never" : (RestartPolicy[p]?.toLowerCase().replace("_", "-") ?? String(p));
}

export function formatHive(h: HiveStatus, events: ObjectEvent[]): string {
  const info = h.info;
  let out = block([
    ["Hive", info?.hiveId ?? DASH],
    ["Hostname", info?.hostname || DASH],
    ["Endpoint", info?.endpoint || DASH],
    ["Queen", h.ownerQueenId || DASH],
    ["Version", info?.version || DASH],
    ["Labels", labels(info?.labels ?? {})],
    ["Health", `${health(h.health)}${h.connected ? "" : " (stream not connected)"}`],
    ["Last seen", when(h.lastSeen)],
    ["Connected at", when(h.connectedAt)],
    ["Incarnation", h.incarnation || DASH],
    ["Last report seq", String(h.lastSeq)],
    ["CPU cores", String(info?.cpuCores ?? DASH)],
    ["Memory", `${bytes(h.memoryAvailableBytes)} available of ${bytes(info?.memoryTotalBytes)}`],
    ["Cgroups", info?.cgroupMode || DASH],
    ["GPU probe", `${probeState(h.gpuProbe?.state)}${h.gpuProbe?.message ? `: ${h.gpuProbe.message}` : ""}`],
    ["Errors", h.errors.length === 0 ? "<none>" : h.errors.map((e) => `${e.source}: ${e.message}`).join("; ")],
  ]);
  out += h.devices.length === 0 ? "GPUs:  <none>\n" : "GPUs:\n" + indented(renderTable([">#", "UUID", "NAME", "MEMORY", ">UTIL", ">TEMP", "HEALTH"], h.devices.map(device)));
  const sick = h.devices.filter((d) => (d.health?.reasons.length ?? 0) > 0);
  if (sick.length > 0) out += "GPU health:\n" + sick.map((d) => `  ${d.index}: ${gpuHealth(d.health)}: ${d.health!.reasons.join("; ")}\n`).join("");
  const rows = h.workers.map((w) => [w.workerId, workerState(w.state), String(w.pid), w.model || DASH, String(w.restartCount), pct(w.cpuPct), bytes(w.memoryRssBytes)]);
  out += rows.length === 0 ? "Workers:  <none>\n" : "Workers:\n" + indented(renderTable(["ID", "STATE", ">PID", "MODEL", ">RESTARTS", ">CPU", ">MEM"], rows));
  return out + formatEvents(events);
}

export function formatWorker(hiveId: string, w: WorkerTelemetry, events: ObjectEvent[]): string {
  const l = w.limits;
  const limit = [
    l?.memoryMaxBytes === undefined ? "" : `memory ${bytes(l.memoryMaxBytes)}`,
    l?.cpuMaxMillicores === undefined ? "" : `cpu ${(l.cpuMaxMillicores / 1000).toString()} cores`,
    l?.pidsMax === undefined ? "" : `pids ${l.pidsMax}`,
  ].filter(Boolean);
  const fields: Field[] = [
    ["Worker", w.workerId],
    ["Hive", hiveId],
    ["State", workerState(w.state)],
    ["PID", String(w.pid)],
    ["Model", w.model || DASH],
    ["Command", w.argv.join(" ") || DASH],
    ["Started", when(w.startedAt)],
    ["Labels", labels(w.labels)],
    ["GPUs", w.gpuUuids.join(",") || DASH],
    ["Limits", limit.length === 0 ? "<none>" : `${limit.join(", ")}${l?.enforced ? "" : " (not enforced)"}`],
    ["CPU", pct(w.cpuPct)],
    ["Memory", bytes(w.memoryRssBytes)],
    ["VRAM", bytes(w.vramUsedBytes)],
    ["GPU util", pct(w.gpuUtilizationPct)],
    ["I/O", `read ${rate(w.ioReadBytesPerSec)}, write ${rate(w.ioWriteBytesPerSec)}`],
    ["Processes", String(w.processCount)],
    ["Cgroup", w.cgroupPath || DASH],
    ["Log", w.logPath || DASH],
    ["Restart policy", restartPolicy(w.restartPolicy)],
    ["Restarts", String(w.restartCount)],
  ];
  if (w.nextRestartAt) fields.push(["Next restart", when(w.nextRestartAt)]);
  if (w.lastExit) {
    const e = w.lastExit;
    const how = e.exitSignal ? `signal ${e.exitSignal}` : `exit code ${e.exitCode ?? "?"}`;
    fields.push(["Last exit", `${workerState(e.state)} (${how})${e.reason ? `: ${e.reason}` : ""}${e.endedAt ? `, ${ago(e.endedAt)}` : ""}`]);
  }
  if (w.exitCode !== undefined || w.exitSignal) fields.push(["Exit", w.exitSignal ? `signal ${w.exitSignal}` : `code ${w.exitCode}`]);
  fields.push(["Errors", w.errors.length === 0 ? "<none>" : w.errors.map((e) => `${e.source}: ${e.message}`).join("; ")]);
  return block(fields) + formatEvents(events);
}
