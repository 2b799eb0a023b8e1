import type { HiveHello } from "../../../gen/apiary/v1/queen_pb.js";
import type { GpuDevice, HiveInfo, HiveReport, WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { GpuProbeState, ReportScope, RestartPolicy, WorkerState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { ConnectError } from "@connectrpc/connect";
import {
  checkBigint,
  checkCount,
  checkEnum,
  checkId,
  checkLabels,
  checkNumber,
  checkText,
  checkTimestamp,
  checkWithin,
  invalid,
} from "../../contracts/field-checks.js";
import { checkArgv, checkGpuIds, checkModel, checkWorkerId, checkWorkerLabels, WORKER_FIELD_LIMITS } from "../../contracts/worker-fields.js";
import { validateEngineLoad } from "./engine-load-checks.js";

/** Limits on what one hive may report. */
export const REPORT_LIMITS = {
  maxWorkers: 4096,
  maxDevices: 64,
  maxErrors: 64,
  /** 1 PiB: more memory than any machine or GPU has. */
  maxBytes: 2n ** 50n,
  /** CPU percent of one worker: 100 per core, up to 1024 cores. */
  maxCpuPct: 102_400,
  /** 1 TB/s of disk I/O. */
  maxIoBytesPerSec: 1e12,
  maxPowerW: 100_000,
} as const;

export function validateHiveInfo(field: string, info: HiveInfo | undefined): asserts info is HiveInfo {
  if (!info) throw invalid(field, "must be set");
  checkId(`${field}.hive_id`, info.hiveId);
  checkText(`${field}.hostname`, info.hostname, 253);
  checkText(`${field}.endpoint`, info.endpoint, 2048);
  checkEndpoint(`${field}.endpoint`, info.endpoint);
  checkText(`${field}.version`, info.version, 128);
  checkText(`${field}.cgroup_mode`, info.cgroupMode, 16);
  checkLabels(`${field}.labels`, info.labels);
  checkBigint(`${field}.memory_total_bytes`, info.memoryTotalBytes, REPORT_LIMITS.maxBytes);
}

/**
 * Where the hive's HiveService listens, as clients will dial it: empty (none told), or
 * http(s)://host[:port] and nothing else — no credentials, path, query or fragment.
 */
function checkEndpoint(field: string, endpoint: string): void {
  if (endpoint === "") return;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalid(field, `${JSON.stringify(endpoint.slice(0, 100))} is not a URL (expected http(s)://host:port)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalid(field, `scheme must be http or https, got ${url.protocol.slice(0, -1)}`);
  if (url.hostname === "") throw invalid(field, "must name a host");
  if (url.username !== "" || url.password !== "") throw invalid(field, "must not carry credentials");
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") throw invalid(field, "must be http(s)://host:port with no path, query or fragment");
  if (!/^https?:\/\/[^/?#]+:\d+\/?$/.test(endpoint)) throw invalid(field, "must give a port (http(s)://host:port)");
}

export function validateHello(hello: HiveHello): asserts hello is HiveHello & { hive: HiveInfo } {
  validateHiveInfo("hello.hive", hello.hive);
  checkId("hello.incarnation", hello.incarnation, 128);
}

function validateDevice(field: string, d: GpuDevice): void {
  checkWithin(field, d, deviceFields);
}

function deviceFields(d: GpuDevice): void {
  checkId("uuid", d.uuid, 128);
  checkNumber("index", d.index, 0, 4096);
  checkText("name", d.name, 256);
  checkBigint("memory_total_bytes", d.memoryTotalBytes, REPORT_LIMITS.maxBytes);
  checkBigint("memory_used_bytes", d.memoryUsedBytes, REPORT_LIMITS.maxBytes);
  checkNumber("utilization_pct", d.utilizationPct, 0, 100);
  checkNumber("memory_utilization_pct", d.memoryUtilizationPct, 0, 100);
  checkNumber("temperature_c", d.temperatureC, -273, 500);
  checkNumber("power_draw_w", d.powerDrawW, 0, REPORT_LIMITS.maxPowerW);
  checkNumber("power_limit_w", d.powerLimitW, 0, REPORT_LIMITS.maxPowerW);
  checkText("compute_capability", d.computeCapability, 16);
  checkText("pci_bus_id", d.pciBusId, 64);
}

/** Every rule a reported worker must follow; throws INVALID_ARGUMENT naming the first field that breaks one. */
export function validateWorker(field: string, w: WorkerTelemetry): void {
  checkWithin(field, w, workerFields);
}

function workerFields(w: WorkerTelemetry): void {
  checkWorkerId("worker_id", w.workerId);
  checkNumber("pid", w.pid, 0, 2 ** 31 - 1);
  checkModel("model", w.model);
  checkGpuIds("gpu_uuids", w.gpuUuids);
  checkEnum("state", w.state, WorkerState.STARTING, WorkerState.BACKOFF);
  checkTimestamp("started_at", w.startedAt);
  checkNumber("cpu_pct", w.cpuPct, 0, REPORT_LIMITS.maxCpuPct);
  checkBigint("memory_rss_bytes", w.memoryRssBytes, REPORT_LIMITS.maxBytes);
  checkNumber("io_read_bytes_per_sec", w.ioReadBytesPerSec, 0, REPORT_LIMITS.maxIoBytesPerSec);
  checkNumber("io_write_bytes_per_sec", w.ioWriteBytesPerSec, 0, REPORT_LIMITS.maxIoBytesPerSec);
  // Summed over the worker's GPUs: 0–100 per GPU.
  checkNumber("gpu_utilization_pct", w.gpuUtilizationPct, 0, 100 * Math.max(1, w.gpuUuids.length));
  checkBigint("vram_used_bytes", w.vramUsedBytes, REPORT_LIMITS.maxBytes);
  if (w.limits) checkBigint("limits.memory_max_bytes", w.limits.memoryMaxBytes, WORKER_FIELD_LIMITS.memoryMaxBytes);
  checkText("exit_signal", w.exitSignal, 32);
  checkWorkerLabels("labels", w.labels);
  checkCount("errors", w.errors.length, REPORT_LIMITS.maxErrors);
  for (let i = 0; i < w.errors.length; i++) {
    checkText(`errors[${i}].source`, w.errors[i].source, 64);
    checkText(`errors[${i}].message`, w.errors[i].message, 4096);
  }
  checkArgv("argv", w.argv);
  checkText("log_path", w.logPath, 4096);
  checkText("cgroup_path", w.cgroupPath, 4096);
  checkTimestamp("uptime", w.uptime);
  checkText("reason", w.reason, 64);
  checkTimestamp("ended_at", w.endedAt);
  checkEnum("restart_policy", w.restartPolicy, RestartPolicy.UNSPECIFIED, RestartPolicy.ALWAYS);
  checkTimestamp("next_restart_at", w.nextRestartAt);
  if (w.lastExit) {
    checkEnum("last_exit.state", w.lastExit.state, WorkerState.UNSPECIFIED, WorkerState.FAILED);
    checkText("last_exit.exit_signal", w.lastExit.exitSignal, 32);
    checkText("last_exit.reason", w.lastExit.reason, 4096);
    checkTimestamp("last_exit.ended_at", w.lastExit.endedAt);
  }
  validateEngineLoad("engine_load", w.engineLoad);
}

/** A reported worker the queen left out, and why. */
export interface RejectedWorker {
  /** Position in report.workers. */
  index: number;
  /** As reported (it may be the field at fault). */
  workerId: string;
  /** The broken rule, naming the field (`report.workers[3].labels["team x"]: …`). */
  message: string;
}

/**
 * Checks a report before the registry sees it. A structurally broken report (its own fields, its
 * devices, too many entries) throws INVALID_ARGUMENT naming the field. A worker entry that breaks
 * a rule, or repeats an earlier entry's id, is only returned as rejected: the caller leaves it out
 * and applies the rest, so one bad worker never cuts off its hive.
 */
export function validateReport(report: HiveReport): RejectedWorker[] {
  checkTimestamp("report.collected_at", report.collectedAt);
  checkCount("report.devices", report.devices.length, REPORT_LIMITS.maxDevices);
  const uuids = new Set<string>();
  report.devices.forEach((d, i) => {
    validateDevice(`report.devices[${i}]`, d);
    if (uuids.has(d.uuid)) throw invalid(`report.devices[${i}].uuid`, `duplicate ${JSON.stringify(d.uuid)}`);
    uuids.add(d.uuid);
  });
  checkCount("report.workers", report.workers.length, REPORT_LIMITS.maxWorkers);
  checkBigint("report.memory_available_bytes", report.memoryAvailableBytes, REPORT_LIMITS.maxBytes);
  if (report.gpuProbe) {
    checkEnum("report.gpu_probe.state", report.gpuProbe.state, GpuProbeState.UNSPECIFIED, GpuProbeState.ERROR);
    checkText("report.gpu_probe.message", report.gpuProbe.message, 4096);
    checkTimestamp("report.gpu_probe.last_success_at", report.gpuProbe.lastSuccessAt);
  }
  checkCount("report.errors", report.errors.length, REPORT_LIMITS.maxErrors);
  report.errors.forEach((e, i) => {
    checkText(`report.errors[${i}].source`, e.source, 64);
    checkText(`report.errors[${i}].message`, e.message, 4096);
  });
  checkEnum("report.scope", report.scope, ReportScope.UNSPECIFIED, ReportScope.PARTIAL);
  checkCount("report.removed_worker_ids", report.removedWorkerIds.length, REPORT_LIMITS.maxWorkers);
  report.removedWorkerIds.forEach((id, i) => checkWorkerId(`report.removed_worker_ids[${i}]`, id));
  const rejected: RejectedWorker[] = [];
  const ids = new Set<string>();
  report.workers.forEach((w, i) => {
    const field = `report.workers[${i}]`;
    try {
      validateWorker(field, w);
      if (ids.has(w.workerId)) throw invalid(`${field}.worker_id`, `duplicate ${JSON.stringify(w.workerId)}`);
      ids.add(w.workerId);
    } catch (err) {
      if (!(err instanceof ConnectError)) throw err;
      rejected.push({ index: i, workerId: w.workerId.slice(0, 256), message: err.rawMessage });
    }
  });
  return rejected;
}

/** The report without its rejected workers (the same object when none were). */
export function withoutRejected(report: HiveReport, rejected: readonly RejectedWorker[]): HiveReport {
  if (rejected.length === 0) return report;
  const left = new Set(rejected.map((r) => r.index));
  return { ...report, workers: report.workers.filter((_, i) => !left.has(i)) };
}
