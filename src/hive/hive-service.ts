import { create } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  HiveService,
  ListWorkersResponseSchema,
  SpawnWorkerResponseSchema,
  StopWorkerResponseSchema,
  WatchTelemetryResponseSchema,
  type SpawnWorkerRequest,
  type StopWorkerRequest,
  type WatchTelemetryResponse,
} from "../../gen/apiary/v1/hive_pb.js";
import type { HiveInfo, HiveReport, WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { isFinal } from "./ended-workers.js";
import { LatestMailbox } from "./latest-mailbox.js";
import { firstProbedReport } from "./first-probed-report.js";
import { resolveGpus } from "./workers/resolve-gpus.js";
import { streamWorkerLogs, type WorkerLogSource } from "./worker-logs/stream-worker-logs.js";
import { compareIds } from "../common/compare-ids.js";
import type { WriteAudit } from "./write-audit.js";

/** What the service needs of the worker supervisor (WorkerSupervisor satisfies it). */
export interface WorkerControl {
  /** Validates the request; throws ConnectError (INVALID_ARGUMENT naming the field, FAILED_PRECONDITION, NOT_FOUND, ALREADY_EXISTS…). */
  spawn(request: SpawnWorkerRequest): Promise<WorkerTelemetry>;
  /** Throws ConnectError NOT_FOUND for an unknown worker. */
  stop(workerId: string, graceMs?: number): Promise<WorkerTelemetry>;
  /** Workers as the supervisor knows them now (including ones not measured yet). */
  list(): WorkerTelemetry[];
}

/** What the service needs of the monitor. */
export interface ReportSource {
  latest(): HiveReport | undefined;
  subscribe(listener: (report: HiveReport) => void): () => void;
}

export interface HiveServiceDeps {
  workers: WorkerControl;
  reports: ReportSource;
  /** The hive's info; a function because the endpoint is known only once the server listens. */
  info: () => HiveInfo;
  /** Aborts when the hive shuts down: open WatchTelemetry streams end with UNAVAILABLE. */
  shutdownSignal: AbortSignal;
  /** How long a SpawnWorker naming GPUs waits for the hive's first GPU probe; default 15 s. */
  gpuProbeWaitMs?: number;
  /** Resolves once a stopped worker's end has been reported (bounded); StopWorker answers after it. */
  reportEnded?: (worker: WorkerTelemetry) => Promise<void>;
  /** Worker logs for StreamWorkerLogs; absent = UNIMPLEMENTED. */
  logs?: WorkerLogSource;
  /** Records every SpawnWorker and StopWorker that reaches the service, with its caller and outcome. */
  audit?: WriteAudit;
}

export const DEFAULT_STOP_GRACE_MS = 10_000;
export const MAX_STOP_GRACE_MS = 3_600_000;

/** HiveService: spawn, stop and list workers, and stream the hive's reports. */
export function createHiveService(deps: HiveServiceDeps): ServiceImpl<typeof HiveService> {
  return {
    spawnWorker: (request, context) =>
      audited(deps, "SpawnWorker", context, { argv: request.argv, workerId: request.workerId }, () => spawn(request), (r) => r.worker?.workerId ?? ""),

    stopWorker: (request, context) => audited(deps, "StopWorker", context, { workerId: request.workerId }, () => stop(request)),

    listWorkers() {
      return create(ListWorkersResponseSchema, { hive: deps.info(), workers: currentWorkers(deps) });
    },

    streamWorkerLogs: (request, context) => streamWorkerLogs(deps.logs, request, context, deps.shutdownSignal),

    watchTelemetry: (request, context) => watchTelemetry(deps, context),
  };

  async function spawn(request: SpawnWorkerRequest) {
    if (request.gpuUuids.length > 0) {
      const report = await firstProbedReport(deps.reports, deps.gpuProbeWaitMs ?? 15_000);
      const note = report?.gpuProbe?.message || "GPU probe not finished";
      request.gpuUuids = resolveGpus(request.gpuUuids, report?.devices ?? [], note);
    }
    const worker = await deps.workers.spawn(request);
    return create(SpawnWorkerResponseSchema, { worker });
  }

  async function stop(request: StopWorkerRequest) {
    if (request.workerId === "") throw invalid("worker_id: must not be empty");
    let graceMs = DEFAULT_STOP_GRACE_MS;
    if (request.gracePeriod) {
      const { seconds, nanos } = request.gracePeriod;
      if (seconds < 0n || nanos < 0) throw invalid("grace_period: must not be negative");
      if (nanos > 999_999_999) throw invalid("grace_period.nanos: must be below 1e9");
      graceMs = durationMs(request.gracePeriod);
      if (graceMs > MAX_STOP_GRACE_MS) throw invalid(`grace_period: must be at most 1h, got ${graceMs} ms`);
    }
    const worker = await deps.workers.stop(request.workerId, graceMs);
    await deps.reportEnded?.(worker);
    return create(StopWorkerResponseSchema, { worker });
  }
}

function audited<T>(deps: HiveServiceDeps, method: "SpawnWorker" | "StopWorker", context: HandlerContext, what: { argv?: string[]; workerId?: string }, run: () => Promise<T>, workerIdOf?: (r: T) => string): Promise<T> {
  return deps.audit ? deps.audit.around(method, context, what, run, workerIdOf) : run();
}

async function* watchTelemetry(deps: HiveServiceDeps, context: HandlerContext): AsyncGenerator<WatchTelemetryResponse> {
  if (deps.shutdownSignal.aborted) throw new ConnectError("hive is shutting down", Code.Unavailable);
  const mailbox = new LatestMailbox<HiveReport>();
  const first = deps.reports.latest();
  if (first) mailbox.put(first);
  const unsubscribe = deps.reports.subscribe((report) => mailbox.put(report));
  const onShutdown = (): void => mailbox.close(new ConnectError("hive is shutting down", Code.Unavailable));
  const onCancel = (): void => mailbox.close();
  deps.shutdownSignal.addEventListener("abort", onShutdown, { once: true });
  context.signal.addEventListener("abort", onCancel, { once: true });
  try {
    for await (const report of mailbox) {
      const message: WatchTelemetryResponse = create(WatchTelemetryResponseSchema, { report });
      yield message;
    }
  } finally {
    unsubscribe();
    deps.shutdownSignal.removeEventListener("abort", onShutdown);
    context.signal.removeEventListener("abort", onCancel);
  }
}

/** Last tick's workers, plus any spawned since, and the final state of any that ended since; ordered by worker_id. */
function currentWorkers(deps: HiveServiceDeps): WorkerTelemetry[] {
  const byId = new Map<string, WorkerTelemetry>();
  for (const worker of deps.reports.latest()?.workers ?? []) byId.set(worker.workerId, worker);
  for (const worker of deps.workers.list()) {
    const measured = byId.get(worker.workerId);
    if (!measured || (isFinal(worker.state) && !isFinal(measured.state))) byId.set(worker.workerId, worker);
  }
  return [...byId.values()].sort((a, b) => compareIds(a.workerId, b.workerId));
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}
