/** Every wait of the project: deadlines, abortable pauses and races against abort signals. */
export type DeadlineOutcome<T> = { settled: true; value: T } | { settled: false };

/**
 * Waits for a promise at most `ms`. The promise keeps running when the deadline
 * passes; the caller decides what to do with it. Rejections count as settled
 * only through the value's own error handling: pass promises that never reject.
 */
export async function awaitWithin<T>(promise: Promise<T>, ms: number): Promise<DeadlineOutcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<{ settled: false }>((resolve) => {
    timer = setTimeout(() => resolve({ settled: false }), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise.then((value) => ({ settled: true as const, value })), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms`, or at once when the signal aborts. Never rejects. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Resolves when the signal aborts (at once if it has). Never rejects. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/**
 * Waits `ms`, or less when a signal aborts or the waiter calls the wake function handed to
 * `onWake` (which gets undefined once the wait is over). Never rejects.
 */
export function pauseUnlessWoken(ms: number, signals: readonly AbortSignal[], onWake: (wake: (() => void) | undefined) => void): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      for (const signal of signals) signal.removeEventListener("abort", done);
      onWake(undefined);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    onWake(done);
    if (signals.some((signal) => signal.aborted)) return done();
    for (const signal of signals) signal.addEventListener("abort", done, { once: true });
  });
}

/** A promise that resolves with the first of the signals to abort; dispose() removes the listeners. */
export function firstAbort(signals: readonly AbortSignal[]): { promise: Promise<AbortSignal>; dispose(): void } {
  let dispose = () => {};
  const promise = new Promise<AbortSignal>((resolve) => {
    const already = signals.find((s) => s.aborted);
    if (already) return resolve(already);
    const listeners = signals.map((signal) => {
      const listener = () => resolve(signal);
      signal.addEventListener("abort", listener, { once: true });
      return () => signal.removeEventListener("abort", listener);
    });
    dispose = () => listeners.forEach((remove) => remove());
  });
  return { promise, dispose: () => dispose() };
}

/**
 * Races a stream's reads against its abort signals with one listener per signal for the whole
 * stream. (A firstAbort per read adds and removes a listener on the queen-wide shutdown signal for
 * every message; EventTarget listener calls cost O(listeners), so with N open streams every
 * report cost O(N).) At most one race is pending at a time.
 */
export class StreamAbort {
  private readonly watch: { promise: Promise<AbortSignal>; dispose(): void };
  private wake: ((signal: AbortSignal) => void) | undefined;

  constructor(private readonly signals: readonly AbortSignal[]) {
    this.watch = firstAbort(signals);
    void this.watch.promise.then((signal) => this.wake?.(signal));
  }

  /** The value of `pending`, or the first signal to abort (at once if one already has). */
  race<T>(pending: Promise<T>): Promise<T | AbortSignal> {
    const already = this.signals.find((s) => s.aborted);
    if (already) return Promise.resolve(already);
    // No .finally(): on a stream's every message it costs two promises more than this.
    return new Promise<T | AbortSignal>((resolve, reject) => {
      const settle = (value: T | AbortSignal): void => {
        if (this.wake === settle) this.wake = undefined;
        resolve(value);
      };
      this.wake = settle;
      pending.then(settle, (err: unknown) => {
        if (this.wake === settle) this.wake = undefined;
        reject(err);
      });
    });
  }

  dispose(): void {
    this.wake = undefined;
    this.watch.dispose();
  }
}
