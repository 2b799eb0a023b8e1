import { constants } from "node:os";
import { WorkerState } from "../../../gen/apiary/v1/telemetry_pb.js";

export interface ExitFacts {
  /** undefined when the exit status is unknown (a re-adopted worker cannot be waited for). */
  code?: number | null;
  signal?: NodeJS.Signals | null;
  stopRequested: boolean;
  oomKilled: boolean;
}

/** WorkerTelemetry.reason of an ended worker. */
export type EndReason = "Completed" | "Error" | "OOMKilled" | "Signaled" | "Stopped" | "Vanished";

export interface ExitOutcome {
  state: WorkerState;
  exitCode?: number;
  exitSignal: string;
  /** One word for WorkerTelemetry.reason. */
  endReason: EndReason;
  /** Why it failed, for the worker's errors; undefined when it did not. */
  reason?: string;
  /** A note for the worker's errors when it did not fail but something is unknown. */
  note?: string;
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
    return { state: WorkerState.FAILED, exitCode, exitSignal: exitSignal || "SIGKILL", endReason: "OOMKilled", reason: "OOM-killed: the worker's cgroup reached its memory limit" };
  }
  if (facts.stopRequested) {
    if (exitCode === undefined && exitSignal === "") {
      // A re-adopted worker is not the hive's child: nobody can learn how it ended. Say so.
      return { state: WorkerState.EXITED, exitSignal, endReason: "Stopped", note: `${UNKNOWN_STATUS}; it ended after StopWorker's signals` };
    }
    const clean = exitCode === 0 || exitCode === SIGTERM_EXIT_CODE || exitSignal === "SIGTERM" || exitSignal === "SIGKILL";
    return clean
      ? { state: WorkerState.EXITED, exitCode, exitSignal, endReason: "Stopped" }
      : { state: WorkerState.FAILED, exitCode, exitSignal, endReason: "Error", reason: `exited with code ${exitCode} after StopWorker` };
  }
  if (exitSignal !== "") return { state: WorkerState.FAILED, exitCode, exitSignal, endReason: "Signaled", reason: `killed by ${exitSignal}` };
  if (exitCode === 0) return { state: WorkerState.EXITED, exitCode, exitSignal, endReason: "Completed" };
  if (exitCode === undefined) return { state: WorkerState.FAILED, exitSignal, endReason: "Vanished", reason: `ended; ${UNKNOWN_STATUS}` };
  return { state: WorkerState.FAILED, exitCode, exitSignal, endReason: "Error", reason: `exited with code ${exitCode}` };
}

const UNKNOWN_STATUS = "exit status unknown (re-adopted after a hive restart, so it could not be waited for)";
