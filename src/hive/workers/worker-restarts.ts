import { Code, ConnectError } from "@connectrpc/connect";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import { WorkerState, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { pause } from "../../common/wait.js";
import type { ExitOutcome } from "./exit-state.js";
import { lastExitOf, RestartBackoff, type RestartSettings, type RestartState } from "./restart-policy.js";
import type { ValidSpawn } from "./validate-spawn-request.js";
import { enterBackoff, type BackoffPhase } from "./worker-phase.js";
import { baseTelemetry, type WorkerRecord } from "./worker-record.js";
import { writeWorkerState, type WorkerStateFile } from "./worker-state-file.js";

/** What the restarts need of the supervisor that owns the workers. */
export interface RestartHost {
  stateDir: string;
  logger: Logger;
  isClosed(): boolean;
  /** Kills what is left of the ended run and removes its cgroup. */
  endLeftovers(record: WorkerRecord): Promise<void>;
  /** Starts a new run of the worker and makes it the live one (throws when it cannot start). */
  startRun(request: ValidSpawn, workerId: string, restart: RestartState): Promise<WorkerRecord>;
  /** The hive's lists refuse the worker now (PERMISSION_DENIED, INVALID_ARGUMENT): it ends instead of waiting again. */
  giveUp(record: WorkerRecord, message: string): void;
}

/**
 * The restart-policy side of the supervisor: a run that ended and whose policy starts it again
 * waits in BACKOFF (its back-off kept per worker id, across runs), then starts again; a start that
 * fails waits for the next window. StopWorker on a waiting worker ends the waiting.
 */
export class WorkerRestarts {
  /** Back-off per worker id, across its runs. */
  private readonly backoffs = new Map<string, RestartBackoff>();

  constructor(
    private readonly settings: RestartSettings,
    private readonly host: RestartHost,
  ) {}

  /** A new SpawnWorker for this id starts with a fresh back-off. */
  forget(workerId: string): void {
    this.backoffs.delete(workerId);
  }

  /** The run ended and its policy restarts it: BACKOFF now, a new start after the back-off. */
  enterBackoff(record: WorkerRecord, outcome: ExitOutcome): void {
    const { workerId } = record.state;
    const restart = record.state.restart!;
    const now = Date.now();
    restart.lastExit = lastExitOf(outcome, now);
    let backoff = this.backoffs.get(workerId);
    if (!backoff) this.backoffs.set(workerId, (backoff = new RestartBackoff(this.settings)));
    const delayMs = backoff.next(now - record.state.startedAtMs);
    const phase = enterBackoff(record, now + delayMs, (waiting) => this.restartAfterBackoff(record, waiting, delayMs));
    record.latest = this.backoffTelemetry(record, phase);
    this.host.logger.warn(
      { workerId, pid: record.state.pid, exitCode: outcome.exitCode, exitSignal: outcome.exitSignal, reason: outcome.reason, delayMs, restarts: restart.count, failuresInARow: backoff.failures },
      "worker ended; restarting it after a back-off",
    );
  }

  backoffTelemetry(record: WorkerRecord, phase: BackoffPhase): WorkerTelemetry {
    const t = baseTelemetry(record, WorkerState.BACKOFF);
    t.processCount = 0;
    t.nextRestartAt = timestampFromMs(phase.untilMs);
    const last = record.state.restart?.lastExit;
    // Why the last run ended, as an ended worker says it; the details are in last_exit.
    t.reason = last?.endReason ?? "Error";
    if (last) t.endedAt = timestampFromMs(last.endedAtMs);
    return t;
  }

  /** The final state of a worker stopped while it waited: its last run's end. */
  finalOfWaiting(record: WorkerRecord): WorkerTelemetry {
    const last = record.state.restart?.lastExit;
    const final = baseTelemetry(record, last?.state ?? WorkerState.EXITED);
    final.exitCode = last?.exitCode;
    final.exitSignal = last?.exitSignal ?? "";
    final.reason = last?.endReason ?? "Stopped";
    final.endedAt = timestampFromMs(last?.endedAtMs ?? Date.now());
    final.processCount = 0;
    this.backoffs.delete(record.state.workerId);
    return final;
  }

  private async restartAfterBackoff(record: WorkerRecord, phase: BackoffPhase, delayMs: number): Promise<void> {
    const { workerId } = record.state;
    const { logger } = this.host;
    await this.host.endLeftovers(record);
    // The pid is gone; a hive restarted meanwhile finds the policy and starts the worker again.
    await writeWorkerState(this.host.stateDir, record.state).catch((err) => logger.warn({ err, workerId }, "cannot write worker state file"));
    for (;;) {
      await pause(delayMs, phase.abort.signal);
      if (phase.cancelled || this.host.isClosed()) return;
      const restart = record.state.restart!;
      try {
        const next = await this.host.startRun(respawnRequest(record.state), workerId, { ...restart, count: restart.count + 1 });
        logger.info({ workerId, pid: next.state.pid, restarts: restart.count + 1 }, "worker restarted");
        return;
      } catch (err) {
        const message = err instanceof ConnectError ? err.rawMessage : String(err);
        if (err instanceof ConnectError && (err.code === Code.PermissionDenied || err.code === Code.InvalidArgument)) {
          if (!phase.cancelled) this.host.giveUp(record, message);
          return;
        }
        restart.lastExit = { state: WorkerState.FAILED, exitSignal: "", reason: `could not start again: ${message}`, endReason: "Error", endedAtMs: Date.now() };
        delayMs = this.backoffs.get(workerId)!.next(0);
        phase.untilMs = Date.now() + delayMs;
        record.latest = this.backoffTelemetry(record, phase);
        logger.warn({ workerId, err: message, delayMs }, "worker could not be restarted; trying again after a back-off");
      }
    }
  }
}

/** What a restart starts: the worker's spawn request, as its state file keeps it. */
function respawnRequest(state: WorkerStateFile): ValidSpawn {
  return {
    argv: state.argv,
    env: state.restart?.env ?? {},
    cwd: state.restart?.cwd ?? "",
    model: state.model,
    gpuUuids: state.gpuUuids,
    limits: {
      memoryMaxBytes: state.limits.memoryMaxBytes === undefined ? undefined : BigInt(state.limits.memoryMaxBytes),
      cpuMaxMillicores: state.limits.cpuMaxMillicores,
      pidsMax: state.limits.pidsMax,
    },
    labels: state.labels,
    workerId: state.workerId,
    engineMetricsUrl: state.engineMetricsUrl ?? "",
  };
}
