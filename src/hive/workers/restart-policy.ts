import { Code, ConnectError } from "@connectrpc/connect";
import { RestartPolicy, WorkerState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { Backoff } from "../../common/backoff.js";
import type { ExitOutcome } from "./exit-state.js";

export interface RestartSettings {
  /** First back-off window; default 1 s. */
  baseMs: number;
  /** Largest back-off window; default 5 min. */
  capMs: number;
  /** A run at least this long resets the back-off to its first window; default 10 min. */
  stableMs: number;
  /** Randomness in [0, 1) for the jitter (tests). */
  random?: () => number;
}

export const DEFAULT_RESTART_SETTINGS: RestartSettings = { baseMs: 1000, capMs: 300_000, stableMs: 600_000 };

/** How the last run of a worker ended, as kept on disk. */
export interface LastExit {
  state: WorkerState;
  exitCode?: number;
  exitSignal: string;
  reason: string;
  /** WorkerTelemetry.reason of the run's end ("Error", "OOMKilled", …). */
  endReason?: string;
  endedAtMs: number;
}

/** What a worker's state file keeps for restarts: the policy, the count, and what a new start needs. */
export interface RestartState {
  policy: RestartPolicy;
  count: number;
  env: Record<string, string>;
  cwd: string;
  lastExit?: LastExit;
}

/** Throws INVALID_ARGUMENT for a value this hive does not know. */
export function checkRestartPolicy(policy: RestartPolicy): RestartPolicy {
  if (!(policy in RestartPolicy) || policy < RestartPolicy.UNSPECIFIED || policy > RestartPolicy.ALWAYS) {
    throw new ConnectError(`restart_policy: unknown value ${policy}`, Code.InvalidArgument);
  }
  return policy === RestartPolicy.UNSPECIFIED ? RestartPolicy.NEVER : policy;
}

/** Whether a run that ended so (and that StopWorker did not end) is started again. */
export function wantsRestart(policy: RestartPolicy, ended: WorkerState): boolean {
  if (policy === RestartPolicy.ALWAYS) return true;
  return policy === RestartPolicy.ON_FAILURE && ended === WorkerState.FAILED;
}

export function lastExitOf(outcome: ExitOutcome, endedAtMs: number): LastExit {
  return { state: outcome.state, exitCode: outcome.exitCode, exitSignal: outcome.exitSignal, reason: outcome.reason ?? "", endReason: outcome.endReason, endedAtMs };
}

/**
 * The back-off of one worker across its runs, on the project's one backoff helper: exponential
 * windows up to a cap, with "equal jitter" (each delay in the upper half of its window, so a crash
 * loop never restarts at once), reset by a run that lasted the stable period.
 */
export class RestartBackoff {
  private readonly backoff: Backoff;

  constructor(private readonly settings: RestartSettings) {
    const random = settings.random ?? Math.random;
    this.backoff = new Backoff({ baseMs: settings.baseMs, capMs: settings.capMs, random: () => 0.5 + random() / 2 });
  }

  /** The delay before the next start, given how long the run that just ended lasted. */
  next(ranMs: number): number {
    if (ranMs >= this.settings.stableMs) this.backoff.reset();
    return this.backoff.next();
  }

  /** Ends in a row without a stable run. */
  get failures(): number {
    return this.backoff.failures;
  }
}
