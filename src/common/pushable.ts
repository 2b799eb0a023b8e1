/**
 * An async iterable fed by push(): the request side of a bidi stream. end() finishes it. At most
 * `limit` requests wait unsent (a stuck stream is the caller's to notice); push() past it drops the oldest.
 */
export class Pushable<T> implements AsyncIterable<T> {
  private readonly queue: T[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(private readonly limit = 64) {}

  push(value: T): void {
    if (this.ended) return;
    if (this.queue.length >= this.limit) this.queue.shift();
    this.queue.push(value);
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const next = this.queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
