/**
 * What push() does when `limit` values already wait: "drop-oldest" keeps the newest (a request
 * stream, where the latest request supersedes; limit 1 makes a latest-value mailbox),
 * "drop-newest" keeps the oldest (the pushed value is lost).
 */
export type PushQueueOverflow = "drop-oldest" | "drop-newest";

export interface PushQueueOptions {
  /** Values that may wait undelivered; memory stays bounded and the producer never waits. */
  readonly limit: number;
  readonly overflow: PushQueueOverflow;
}

/**
 * An async iterable fed by push(), for one consumer: the request side of a bidi stream, or the
 * reports of a hive to one slow Watch. end() finishes it after what is queued; close() finishes it
 * at once, dropping what is queued, and with an error the iteration throws it.
 */
export class PushQueue<T> implements AsyncIterable<T> {
  private readonly queue: T[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private failure: unknown;

  constructor(private readonly options: PushQueueOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1) throw new RangeError(`PushQueue limit: must be a positive integer, got ${options.limit}`);
  }

  push(value: T): void {
    if (this.ended) return;
    if (this.queue.length >= this.options.limit) {
      if (this.options.overflow === "drop-newest") return;
      this.queue.shift();
    }
    this.queue.push(value);
    this.notify();
  }

  /** No more values: the consumer still gets those queued, then the iteration ends. */
  end(): void {
    this.ended = true;
    this.notify();
  }

  /** Ends the iteration now, dropping what is queued; with an error, the iteration throws it. */
  close(error?: unknown): void {
    if (this.ended && this.queue.length === 0) return;
    this.ended = true;
    this.failure = error;
    this.queue.length = 0;
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.queue.length > 0) {
        yield this.queue.shift()!;
        continue;
      }
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
