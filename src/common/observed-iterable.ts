/** What {@link observeIterable} calls; every hook is optional. */
export interface IterableObserver<T> {
  /** Each value, before the consumer gets it. */
  value?(value: T): void;
  /** Once: the source ended (err undefined), failed (err), or the consumer stopped early (err undefined). */
  end?(err: unknown): void;
  /** Replaces an error of the source before the consumer sees it (and before end). */
  mapError?(err: unknown): unknown;
}

/**
 * The values of `source`, unchanged, with `observer` told of each and of the end. It does what an
 * `async function*` wrapping `yield* source` in try/finally does, without a generator: per value
 * one promise (the source's, chained once) instead of the generator's own resumptions, which on
 * a stream carrying thousands of messages a second is most of a wrapper's cost.
 */
export function observeIterable<T>(source: AsyncIterable<T>, observer: IterableObserver<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const it = source[Symbol.asyncIterator]();
      let ended = false;
      const end = (err: unknown): void => {
        if (ended) return;
        ended = true;
        observer.end?.(err);
      };
      const onResult = (r: IteratorResult<T>): IteratorResult<T> => {
        if (r.done) end(undefined);
        else observer.value?.(r.value);
        return r;
      };
      const onError = (err: unknown): never => {
        const mapped = observer.mapError ? observer.mapError(err) : err;
        end(mapped);
        throw mapped;
      };
      return {
        next: () => (ended ? Promise.resolve({ done: true, value: undefined }) : it.next().then(onResult, onError)),
        return: (value?: unknown) => {
          end(undefined);
          return it.return ? it.return(value).then(() => ({ done: true as const, value: undefined }), onError) : Promise.resolve({ done: true as const, value: undefined });
        },
      };
    },
  };
}
