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
