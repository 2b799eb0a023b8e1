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
    return new Promise<T | AbortSignal>((resolve, reject) => {
      this.wake = resolve;
      pending.then(resolve, reject);
    }).finally(() => {
      this.wake = undefined;
    });
  }

  dispose(): void {
    this.wake = undefined;
    this.watch.dispose();
  }
}
