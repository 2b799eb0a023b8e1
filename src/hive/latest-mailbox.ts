/**
 * A one-slot mailbox for a slow consumer: a new value replaces the undelivered
 * one, so memory stays bounded and the producer never waits.
 */
export class LatestMailbox<T> implements AsyncIterable<T> {
  private pending: { value: T } | undefined;
  private waiter: (() => void) | undefined;
  private closed = false;
  private failure: unknown;

  put(value: T): void {
    if (this.closed) return;
    this.pending = { value };
    this.wake();
  }

  /** Ends the iteration, dropping any undelivered value; with an error, the iteration throws it. */
  close(error?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.failure = error;
    this.pending = undefined;
    this.wake();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.pending) {
        const { value } = this.pending;
        this.pending = undefined;
        yield value;
        continue;
      }
      if (this.closed) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}
