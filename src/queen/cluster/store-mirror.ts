import type { Logger } from "pino";
import { Backoff } from "../../common/backoff.js";
import { pause } from "../../common/wait.js";
import { StoreCompactedError, type ClusterStore, type ClusterWatch } from "./cluster-store.js";
import type { StoreState } from "./store-state.js";

export interface StoreMirrorOptions {
  store: ClusterStore;
  state: StoreState;
  logger: Logger;
  /** The hives and queens a list or a transaction touched (after `state` took it). */
  onTouched(hiveIds: Iterable<string>, queenIds: Iterable<string>): void;
  /** The watch started (true) or stopped (false). */
  onWatching(watching: boolean): void;
  backoff?: Backoff;
}

/**
 * Keeps StoreState in step with the store: list, then watch from the list's revision + 1. A
 * compacted history lists again (the caller reconciles: what the list lacks is gone); an
 * unreachable store leaves everything as it was and lists again with backoff (delays capped,
 * until close()).
 */
export class StoreMirror {
  private watch: ClusterWatch | undefined;
  private readonly stop = new AbortController();
  private readonly backoff: Backoff;
  private loop: Promise<void> | undefined;
  private failed: ((err: Error) => void) | undefined;
  watching = false;

  constructor(private readonly opts: StoreMirrorOptions) {
    this.backoff = opts.backoff ?? new Backoff({ baseMs: 200, capMs: 5_000 });
  }

  /** Resolves after the first list (or its failure). */
  start(): Promise<void> {
    let firstTry!: () => void;
    const tried = new Promise<void>((resolve) => (firstTry = resolve));
    this.loop = this.run(firstTry);
    return tried;
  }

  private async run(firstTry: () => void): Promise<void> {
    const { store, state, logger } = this.opts;
    while (!this.stop.signal.aborted) {
      let revision: number;
      try {
        const snapshot = await store.list();
        if (this.stop.signal.aborted) break;
        const touched = state.reset(snapshot);
        revision = snapshot.revision;
        this.opts.onTouched(touched.hiveIds, touched.queenIds);
      } catch (err) {
        logger.warn({ err, failures: this.backoff.failures + 1 }, "cluster store list failed");
        firstTry();
        await pause(this.backoff.next(), this.stop.signal);
        continue;
      }
      const ended = new Promise<Error>((resolve) => (this.failed = resolve));
      this.watch = store.watch(revision, {
        onChanges: (rev, changes) => {
          const touched = state.apply(rev, changes);
          this.opts.onTouched(touched.hiveIds, touched.queenIds);
        },
        onError: (err) => this.failed?.(err),
      });
      this.setWatching(true);
      this.backoff.reset();
      firstTry();
      const err = await ended;
      this.watch.close();
      this.watch = undefined;
      if (this.stop.signal.aborted) break;
      this.setWatching(false);
      if (err instanceof StoreCompactedError) {
        logger.info({ compactRevision: err.compactRevision, from: state.revision }, "cluster store watch compacted: listing again");
        continue;
      }
      logger.warn({ err }, "cluster store watch failed");
      await pause(this.backoff.next(), this.stop.signal);
    }
  }

  private setWatching(watching: boolean): void {
    if (this.watching === watching) return;
    this.watching = watching;
    this.opts.onWatching(watching);
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.failed?.(new Error("closed"));
    this.watch?.close();
    await this.loop;
  }
}
