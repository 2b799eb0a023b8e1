import { constants } from "node:os";
import { WorkerState } from "../../../gen/apiary/v1/telemetry_pb.js";

export interface ExitFacts {
  /** undefined when the exit status is unknown (a re-adopted worker cannot be waited for). */
  code?: number | null;
  signal?: NodeJS.Signals | null;
  stopRequested: boolean;
  oomKilled: boolean;
}

export interface ExitOutcome {
  state: WorkerState;
  exitCode?: number;
  exitSignal: string;
  /** Why it failed, for the worker's errors; undefined when it did not. */
  reason?: string;
}

const SIGTERM_EXIT_CODE = 128 + constants.signals.SIGTERM;

/**
 * EXITED: exit code 0, or ended by StopWorker (its SIGTERM, the SIGKILL after
 * the grace period, or the conventional exit code 143 a program returns after
 * SIGTERM). FAILED: any other code, any signal nobody asked for, an OOM kill,
 * or an unknown end that StopWorker did not cause.
 */
export function exitOutcome(facts: ExitFacts): ExitOutcome {
  const exitCode = facts.code ?? undefined;
  const exitSignal = facts.signal ?? "";
  if (facts.oomKilled && !facts.stopRequested) {
    return { state: WorkerState.FAILED, exitCode, exitSignal: exitSignal || "SIGKILL", reason: "OOM-killed: the worker's cgroup reached its memory limit" };
  }
  if (facts.stopRequested) {
    const clean = exitCode === undefined || exitCode === 0 || exitCode === SIGTERM_EXIT_CODE || exitSignal === "SIGTERM" || exitSignal === "SIGKILL";
    return clean ? { state: WorkerState.EXITED, exitCode, exitSignal } : { state: WorkerState.FAILED, exitCode, exitSignal, reason: `exited with code ${exitCode} after StopWorker` };
  }
  if (exitSignal !== "") return { state: WorkerState.FAILED, exitCode, exitSignal, reason: `killed by ${exitSignal}` };
  if (exitCode === 0) return { state: WorkerState.EXITED, exitCode, exitSignal };
  if (exitCode === undefined) {
    return { state: WorkerState.FAILED, exitSignal, reason: "ended; exit status unknown (re-adopted after a hive restart, so it could not be waited for)" };
  }
  return { state: WorkerState.FAILED, exitCode, exitSignal, reason: `exited with code ${exitCode}` };
}
