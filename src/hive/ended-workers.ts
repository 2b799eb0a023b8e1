import { WorkerState, type HiveReport, type WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { compareIds } from "../common/compare-ids.js";

export interface EndedWorkersOptions {
  /** The longest an ended worker is carried while no report reaches the queen; default 10 min. */
  maxAgeMs?: number;
  /** The most ended workers carried at once, oldest dropped first; default 1000. */
  maxCount?: number;
  now?: () => number;
}

interface Held {
  telemetry: WorkerTelemetry;
  sinceMs: number;
  /** whenDelivered() callers. */
  waiters: (() => void)[];
}

/**
 * The final telemetry (EXITED/FAILED) of ended workers, carried in every report until one report
 * that holds it has been delivered. The heartbeat sends the latest report on its own interval, so
 * a death seen by exactly one tick could otherwise be overwritten before it is ever sent, or be
 * sent while the queen is away: then the queen would see the worker vanish without its exit.
 */
export class EndedWorkers {
  private readonly held = new Map<string, Held>();
  private readonly maxAgeMs: number;
  private readonly maxCount: number;
  private readonly now: () => number;

  constructor(options: EndedWorkersOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? 600_000;
    this.maxCount = options.maxCount ?? 1000;
    this.now = options.now ?? (() => performance.now());
  }

  /** How many ended workers are waiting for delivery. */
  get size(): number {
    return this.held.size;
  }

  /**
   * Takes a tick's workers: ended ones start being held, a live worker replaces a held one of the
   * same id. Returns the tick's workers plus every held one they do not name, sorted by id.
   */
  carry(workers: WorkerTelemetry[]): WorkerTelemetry[] {
    const now = this.now();
    for (const worker of workers) {
      if (isFinal(worker.state)) {
        if (!this.held.has(worker.workerId)) this.held.set(worker.workerId, { telemetry: worker, sinceMs: now, waiters: [] });
      } else {
        this.drop(worker.workerId);
      }
    }
    this.expire(now);
    const named = new Set(workers.map((w) => w.workerId));
    const carried = [...this.held.values()].filter((h) => !named.has(h.telemetry.workerId)).map((h) => h.telemetry);
    if (carried.length === 0) return workers;
    return [...workers, ...carried].sort((a, b) => compareIds(a.workerId, b.workerId));
  }

  /** A report reached its receiver: the ended workers it carried need not be carried again. */
  delivered(report: HiveReport): void {
    for (const worker of report.workers) {
      if (!isFinal(worker.state)) continue;
      const held = this.held.get(worker.workerId);
      if (held && held.telemetry.pid === worker.pid) this.drop(worker.workerId);
    }
  }

  /**
   * Resolves once the ended worker is no longer waiting for delivery (delivered, replaced, expired
   * or never held), or after `timeoutMs`; true when it is no longer held.
   */
  whenDelivered(workerId: string, timeoutMs: number): Promise<boolean> {
    const held = this.held.get(workerId);
    if (!held) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        held.waiters = held.waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      held.waiters.push(done);
    });
  }

  private drop(workerId: string): void {
    const held = this.held.get(workerId);
    if (!held) return;
    this.held.delete(workerId);
    for (const waiter of held.waiters) waiter();
  }

  private expire(now: number): void {
    for (const [workerId, held] of this.held) {
      if (now - held.sinceMs > this.maxAgeMs) this.drop(workerId);
    }
    // Map order is insertion order: the oldest come first.
    for (const workerId of this.held.keys()) {
      if (this.held.size <= this.maxCount) break;
      this.drop(workerId);
    }
  }
}

export function isFinal(state: WorkerState): boolean {
  return state === WorkerState.EXITED || state === WorkerState.FAILED;
}
