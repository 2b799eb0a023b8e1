import { performance } from "node:perf_hooks";

/** Time source of the queen; tests inject a manual one. */
export interface Clock {
  /** Monotonic milliseconds (never goes back; unrelated to wall time). */
  monotonicMs(): number;
  /** Wall-clock milliseconds since the Unix epoch, for display only. */
  wallMs(): number;
}

export const systemClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  constructor(
    private mono = 1_000_000,
    private wall = 1_700_000_000_000,
  ) {}
  monotonicMs(): number {
    return this.mono;
  }
  wallMs(): number {
    return this.wall;
  }
  advance(ms: number): void {
    this.mono += ms;
    this.wall += ms;
  }
}

/**
 * The clock liveness is judged by: monotonic time minus every stall of the queen's own event loop.
 * Time the queen spent unable to run (a late sweep timer) is not counted against hives.
 */
export class LivenessClock {
  private stalledMs = 0;
  constructor(private readonly clock: Clock) {}
  /** Liveness milliseconds: monotonic time without the stalls. */
  nowMs(): number {
    return this.clock.monotonicMs() - this.stalledMs;
  }
  /** The underlying monotonic time, stalls included (to measure the stalls themselves). */
  monotonicMs(): number {
    return this.clock.monotonicMs();
  }
  /** Wall-clock milliseconds, for display only. */
  wallMs(): number {
    return this.clock.wallMs();
  }
  /** Credits a stall of the queen's event loop to every hive. */
  addStall(ms: number): void {
    if (ms > 0) this.stalledMs += ms;
  }
  totalStalledMs(): number {
    return this.stalledMs;
  }
}
