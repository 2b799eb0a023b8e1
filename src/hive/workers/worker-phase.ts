import type { WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";

/**
 * Where one run of a worker is, with exactly the data of that phase:
 *
 *   running ──StopWorker──▶ stopping ──main process gone──▶ ended
 *      │                                                      ▲
 *      ├──main process gone, policy says no (or hive closed)──┤
 *      └──main process gone, policy restarts──▶ backoff ──────┘ StopWorker, or the hive's lists refuse the restart
 *                                                  └──the back-off is over──▶ a new record, running
 *
 * No other move is possible: every transition below throws on a phase it does not leave from.
 */
export type WorkerPhase = RunningPhase | StoppingPhase | BackoffPhase | EndedPhase;

/** The main process runs (our child, or re-adopted from an earlier hive). */
export interface RunningPhase {
  readonly kind: "running";
}

/** StopWorker is ending the run's process tree. */
export interface StoppingPhase {
  readonly kind: "stopping";
  /** Resolves once every process of the worker is gone. */
  readonly treeGone: Promise<void>;
  /** StopWorker's answer: the final telemetry, once cleaned up. */
  readonly stopped: Promise<WorkerTelemetry>;
}

/** The run ended and the restart policy starts the worker again after a back-off. */
export interface BackoffPhase {
  readonly kind: "backoff";
  /** When the next start is due (it moves when a start fails). */
  untilMs: number;
  /** Ends the wait early (StopWorker, hive shutdown). */
  readonly abort: AbortController;
  /** Set by StopWorker: no new start. */
  cancelled: boolean;
  /** The wait and the new start; resolves once the worker runs again or is not going to. */
  restarting: Promise<void>;
}

/** The final telemetry is decided; leftovers, the cgroup and the state file are being removed. */
export interface EndedPhase {
  readonly kind: "ended";
  readonly final: WorkerTelemetry;
  readonly cleanup: Promise<void>;
}

/** What holds a phase: a worker record. */
export interface Phased {
  phase: WorkerPhase;
  readonly state: { readonly workerId: string };
}

export class InvalidPhaseTransition extends Error {
  constructor(workerId: string, from: WorkerPhase["kind"], to: WorkerPhase["kind"]) {
    super(`worker ${workerId}: no move from ${from} to ${to}`);
    this.name = "InvalidPhaseTransition";
  }
}

function leave<K extends WorkerPhase["kind"]>(record: Phased, to: WorkerPhase["kind"], from: readonly K[]): void {
  if (!(from as readonly string[]).includes(record.phase.kind)) throw new InvalidPhaseTransition(record.state.workerId, record.phase.kind, to);
}

/** StopWorker on a running worker: `endTree` ends its processes, `finish` yields the final telemetry. */
export function enterStopping(record: Phased, endTree: () => Promise<void>, finish: (treeGone: Promise<void>) => Promise<WorkerTelemetry>): StoppingPhase {
  leave(record, "stopping", ["running"]);
  const treeGone = endTree();
  const phase: StoppingPhase = { kind: "stopping", treeGone, stopped: finish(treeGone) };
  record.phase = phase;
  return phase;
}

/** A running worker's main process ended and its policy restarts it at `untilMs`; `restart` waits and starts it. */
export function enterBackoff(record: Phased, untilMs: number, restart: (phase: BackoffPhase) => Promise<void>): BackoffPhase {
  leave(record, "backoff", ["running"]);
  const phase: BackoffPhase = { kind: "backoff", untilMs, abort: new AbortController(), cancelled: false, restarting: Promise.resolve() };
  record.phase = phase;
  phase.restarting = restart(phase);
  return phase;
}

/** StopWorker on a waiting worker: the wait ends and no new start follows. */
export function cancelBackoff(record: Phased): BackoffPhase {
  leave(record, "backoff", ["backoff"]);
  const phase = record.phase as BackoffPhase;
  phase.cancelled = true;
  phase.abort.abort();
  return phase;
}

/** The final telemetry is decided; `cleanup` removes what is left of the worker. */
export function enterEnded(record: Phased, final: WorkerTelemetry, cleanup: () => Promise<void>): EndedPhase {
  leave(record, "ended", ["running", "stopping", "backoff"]);
  const phase: EndedPhase = { kind: "ended", final, cleanup: cleanup() };
  record.phase = phase;
  return phase;
}
