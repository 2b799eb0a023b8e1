import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import type {
  CollectionError,
  EngineLoad,
  GpuDevice,
  GpuProbeStatus,
  HiveInfo,
  ResourceLimits,
  WorkerExit,
  WorkerTelemetry,
} from "../../../gen/apiary/v1/telemetry_pb.js";
import { deviceHealthFieldsEqual } from "./gpu-health-equality.js";

// Hand-written field comparisons: applying a report diffs every worker, and reflection-based
// equality costs an order of magnitude more. Keep these in step with telemetry.proto.

function timestampsEqual(a: Timestamp | Duration | undefined, b: Timestamp | Duration | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return a.seconds === b.seconds && a.nanos === b.nanos;
}

/** Equal in everything a watcher needs; sampled_at and age are left out (they change every scrape). */
function engineLoadsEqual(a: EngineLoad | undefined, b: EngineLoad | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return (
    a.kind === b.kind &&
    a.version === b.version &&
    a.model === b.model &&
    a.requestsRunning === b.requestsRunning &&
    a.requestsWaiting === b.requestsWaiting &&
    a.kvCacheUsageRatio === b.kvCacheUsageRatio &&
    a.promptTokensPerSec === b.promptTokensPerSec &&
    a.generationTokensPerSec === b.generationTokensPerSec &&
    timestampsEqual(a.ttftP50, b.ttftP50) &&
    timestampsEqual(a.ttftP95, b.ttftP95) &&
    timestampsEqual(a.interTokenLatencyP50, b.interTokenLatencyP50) &&
    timestampsEqual(a.interTokenLatencyP95, b.interTokenLatencyP95) &&
    a.stale === b.stale &&
    a.endpoint === b.endpoint
  );
}

function stringArraysEqual(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function labelsEqual(a: { readonly [k: string]: string }, b: { readonly [k: string]: string }): boolean {
  if (a === b) return true;
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  for (const k of ak) if (a[k] !== b[k]) return false;
  return true;
}

export function errorsEqual(a: readonly CollectionError[], b: readonly CollectionError[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].source !== b[i].source || a[i].message !== b[i].message) return false;
  return true;
}

function limitsEqual(a: ResourceLimits | undefined, b: ResourceLimits | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return (
    a.memoryMaxBytes === b.memoryMaxBytes &&
    a.cpuMaxMillicores === b.cpuMaxMillicores &&
    a.pidsMax === b.pidsMax &&
    a.enforced === b.enforced
  );
}

/**
 * True when two reports of a worker differ in nothing a watcher needs. `uptime` is left out: it
 * changes every report and follows from started_at.
 */
export function workersEqual(a: WorkerTelemetry, b: WorkerTelemetry): boolean {
  return (
    a.workerId === b.workerId &&
    a.pid === b.pid &&
    a.model === b.model &&
    a.state === b.state &&
    a.cpuPct === b.cpuPct &&
    a.memoryRssBytes === b.memoryRssBytes &&
    a.ioReadBytesPerSec === b.ioReadBytesPerSec &&
    a.ioWriteBytesPerSec === b.ioWriteBytesPerSec &&
    a.gpuUtilizationPct === b.gpuUtilizationPct &&
    a.vramUsedBytes === b.vramUsedBytes &&
    a.exitCode === b.exitCode &&
    a.exitSignal === b.exitSignal &&
    a.logPath === b.logPath &&
    a.processCount === b.processCount &&
    a.cgroupPath === b.cgroupPath &&
    stringArraysEqual(a.gpuUuids, b.gpuUuids) &&
    timestampsEqual(a.startedAt, b.startedAt) &&
    limitsEqual(a.limits, b.limits) &&
    labelsEqual(a.labels, b.labels) &&
    errorsEqual(a.errors, b.errors) &&
    stringArraysEqual(a.argv, b.argv) &&
    engineLoadsEqual(a.engineLoad, b.engineLoad) &&
    a.restartCount === b.restartCount &&
    a.restartPolicy === b.restartPolicy &&
    timestampsEqual(a.nextRestartAt, b.nextRestartAt) &&
    lastExitsEqual(a.lastExit, b.lastExit)
  );
}

function lastExitsEqual(a: WorkerExit | undefined, b: WorkerExit | undefined): boolean {
  if (!a || !b) return a === b;
  return a.state === b.state && a.exitCode === b.exitCode && a.exitSignal === b.exitSignal && a.reason === b.reason && timestampsEqual(a.endedAt, b.endedAt);
}

export function devicesEqual(a: GpuDevice, b: GpuDevice): boolean {
  return (
    a.index === b.index &&
    a.uuid === b.uuid &&
    a.name === b.name &&
    a.memoryTotalBytes === b.memoryTotalBytes &&
    a.memoryUsedBytes === b.memoryUsedBytes &&
    a.utilizationPct === b.utilizationPct &&
    a.temperatureC === b.temperatureC &&
    a.powerDrawW === b.powerDrawW &&
    a.powerLimitW === b.powerLimitW &&
    a.computeCapability === b.computeCapability &&
    a.pciBusId === b.pciBusId &&
    a.memoryUtilizationPct === b.memoryUtilizationPct &&
    deviceHealthFieldsEqual(a, b)
  );
}

export function deviceListsEqual(a: readonly GpuDevice[], b: readonly GpuDevice[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!devicesEqual(a[i], b[i])) return false;
  return true;
}

export function probesEqual(a: GpuProbeStatus | undefined, b: GpuProbeStatus | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return a.state === b.state && a.message === b.message && timestampsEqual(a.lastSuccessAt, b.lastSuccessAt);
}

export function hiveInfosEqual(a: HiveInfo, b: HiveInfo): boolean {
  return (
    a.hiveId === b.hiveId &&
    a.hostname === b.hostname &&
    a.endpoint === b.endpoint &&
    a.version === b.version &&
    a.cpuCores === b.cpuCores &&
    a.memoryTotalBytes === b.memoryTotalBytes &&
    a.cgroupMode === b.cgroupMode &&
    labelsEqual(a.labels, b.labels)
  );
}
