/** How many calls start in one turn of the event loop, and how many gone ones are dropped. */
export const CALLS_STARTED_PER_TURN = 64;
const GONE_DROPPED_PER_TURN = 4_096;
const COMPACT_AFTER = 1_024;

interface PendingStart {
  start: () => void;
  gone: () => boolean;
}

/**
 * Starts calls on a later turn, at most `perTurn` in each. A stream the client reset in the same
 * read as its HEADERS (HTTP/2 rapid reset) is gone by then and costs no handler at all; a burst of
 * streams kept open starts in slices, with I/O (heartbeats, health checks) between two slices.
 */
export class CallStartQueue {
  private pending: (PendingStart | undefined)[] = [];
  private head = 0;
  private scheduled = false;

  constructor(
    private readonly onError: (err: unknown) => void,
    readonly perTurn = CALLS_STARTED_PER_TURN,
  ) {}

  /** Calls `start` on a later turn unless `gone` says the stream ended first. */
  enqueue(start: () => void, gone: () => boolean): void {
    this.pending.push({ start, gone });
    this.schedule();
  }

  /** Calls waiting for a turn. */
  get size(): number {
    return this.pending.length - this.head;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.drain);
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    let started = 0;
    let dropped = 0;
    while (this.head < this.pending.length && started < this.perTurn && dropped < GONE_DROPPED_PER_TURN) {
      const next = this.pending[this.head]!;
      this.pending[this.head++] = undefined;
      if (next.gone()) {
        dropped++;
        continue;
      }
      started++;
      try {
        next.start();
      } catch (err) {
        this.onError(err);
      }
    }
    if (this.head >= this.pending.length) {
      this.pending = [];
      this.head = 0;
      return;
    }
    if (this.head >= COMPACT_AFTER) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    this.schedule();
  };
}
