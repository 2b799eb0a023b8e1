import { redactedArgvOf } from "./redact-secrets.js";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ChildProcess } from "node:child_process";
import {
  CollectionErrorSchema,
  ResourceLimitsSchema,
  RestartPolicy,
  WorkerTelemetrySchema,
  WorkerState,
  type CollectionError,
  type WorkerTelemetry,
} from "../../../gen/apiary/v1/telemetry_pb.js";
import type { ChildExit } from "./launch-in-cgroup.js";
import type { WorkerPhase } from "./worker-phase.js";
import type { WorkerIdentity } from "./process-tree.js";
import { RateTracker } from "./rate-tracker.js";
import type { WorkerStateFile } from "./worker-state-file.js";

/** What the supervisor holds about one live worker. */
export interface WorkerRecord {
  state: WorkerStateFile;
  identity: WorkerIdentity;
  /** Our own child; absent for a worker re-adopted after a restart (it cannot be waited for). */
  child?: ChildProcess;
  exit?: Promise<ChildExit>;
  rates: RateTracker;
  latest: WorkerTelemetry;
  /** Why the hive's current --allow-program refuses this (re-adopted) worker; it is being stopped. */
  refusal?: string;
  /** Running, stopping, in back-off or ended, with that phase's data (worker-phase.ts). */
  phase: WorkerPhase;
}

export function newRecord(state: WorkerStateFile, child?: ChildProcess, exit?: Promise<ChildExit>): WorkerRecord {
  const record: WorkerRecord = {
    state,
    identity: { pid: state.pid, startTimeTicks: state.startTimeTicks, pgid: state.pid, knownPids: new Map([[state.pid, state.startTimeTicks]]), cgroupPids: () => undefined },
    child,
    exit,
    rates: new RateTracker(),
    phase: { kind: "running" },
    latest: undefined as unknown as WorkerTelemetry,
  };
  record.latest = baseTelemetry(record, WorkerState.STARTING);
  return record;
}

export function limitErrors(state: WorkerStateFile): CollectionError[] {
  return state.limitErrors.map((message) => create(CollectionErrorSchema, { source: "cgroup", message }));
}

/** The fields every report of the worker carries, with the given state; measurements are added by the caller. */
export function baseTelemetry(record: WorkerRecord, state: WorkerState): WorkerTelemetry {
  const s = record.state;
  return create(WorkerTelemetrySchema, {
    workerId: s.workerId,
    pid: s.pid,
    model: s.model,
    gpuUuids: [...s.gpuUuids],
    state,
    startedAt: timestampFromMs(s.startedAtMs),
    uptime: durationFromMs(Math.max(0, Date.now() - s.startedAtMs)),
    limits: create(ResourceLimitsSchema, {
      memoryMaxBytes: s.limits.memoryMaxBytes === undefined ? undefined : BigInt(s.limits.memoryMaxBytes),
      cpuMaxMillicores: s.limits.cpuMaxMillicores,
      pidsMax: s.limits.pidsMax,
      enforced: s.enforced,
    }),
    labels: { ...s.labels },
    argv: redactedArgvOf(s.argv), // reports, ListWorkers, the queen, Watch: never a secret in clear
    logPath: s.logPath,
    cgroupPath: s.cgroup.primaryPath,
    processCount: 1,
    errors: limitErrors(s),
    restartCount: s.restart?.count ?? 0,
    restartPolicy: s.restart?.policy ?? RestartPolicy.NEVER,
    lastExit: s.restart?.lastExit && {
      state: s.restart.lastExit.state,
      exitCode: s.restart.lastExit.exitCode,
      exitSignal: s.restart.lastExit.exitSignal,
      reason: s.restart.lastExit.reason,
      endedAt: timestampFromMs(s.restart.lastExit.endedAtMs),
    },
  });
}
