import { create, isMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ConnectError } from "@connectrpc/connect";
import {
  FindWorkersRequestSchema,
  WatchRequestSchema,
  type FindWorkersRequest,
  type FindWorkersResponse,
  type WatchResponse,
} from "../../gen/apiary/v1/queen_pb.js";
import { resumingWatch } from "./resuming-watch.js";
import type { CachedHive, CachedWorker } from "./cached-worker.js";
import { InformerIndex, type ChangeType, type InformerChange } from "./informer-index.js";
import { pickFrom, type PickPolicy } from "./pick-policies.js";
import type { QueenClient } from "./queen-clients.js";
import { RevisionWaiters } from "./revision-waiters.js";

/** What find() takes: a FindWorkersRequest, or the plain object form of one ({ model, limit, … }). */
export type FindFilter = FindWorkersRequest | MessageInitShape<typeof FindWorkersRequestSchema>;

export interface InformerOptions {
  /** The queens to watch, in order of preference (see queenClients); the Watch fails over between them. */
  queens: QueenClient | readonly QueenClient[];
  /** Cache only the workers of this model (a server-side Watch filter); unset: every model. */
  model?: string;
  /** Cache only these hives (a server-side Watch filter); unset: every hive. */
  hiveIds?: readonly string[];
  /** How often the queen confirms a quiet stream is alive (bookmarks); default 1000 ms, at least 100. */
  bookmarkIntervalMs?: number;
  /** Cap of the reconnect backoff once every queen failed in a row; default 5000 ms. */
  maxBackoffMs?: number;
  /** Called before each reconnect, with the failure and the index of the queen tried next. */
  onRetry?: (err: ConnectError | undefined, failures: number, next: number) => void;
  /** Called when a handler throws; default: a process warning. The informer carries on. */
  onHandlerError?: (err: unknown, change: InformerChange) => void;
}

export interface Staleness {
  /** The first snapshot is complete (synced() has resolved). */
  synced: boolean;
  /** A stream is open and has spoken within three bookmark intervals. */
  live: boolean;
  /** Milliseconds since the last message (event, bookmark or snapshot end); Infinity before the first. */
  sinceLastMessageMs: number;
  /** Resume point of the cache: every change up to this revision of `epoch` is applied. */
  revision: bigint;
  epoch: string;
  /** Index (in the queens given) of the queen watched now. */
  queen: number;
}

export type InformerHandler = (change: InformerChange) => void;

/**
 * A live local copy of what a queen knows about workers, for schedulers that pick per request:
 * one Watch (batched, resuming on the next queen and across epochs, REMOVED for what a new
 * snapshot lacks: resuming-watch.ts), an index by model, hive and hive label, and answers from
 * memory — find() with FindWorkers' filters and orders, pick() with a policy — in microseconds.
 */
export class Informer {
  private readonly index = new InformerIndex();
  private readonly abort = new AbortController();
  private readonly handlers = new Map<ChangeType, Set<InformerHandler>>();
  private readonly waiters = new RevisionWaiters();
  private readonly loop: Promise<void>;
  private readonly firstSync: Promise<void>;
  private resolveSync!: () => void;
  private rejectSync!: (err: Error) => void;
  private isSynced = false;
  private streamLive = false;
  private lastMessageAt = -Infinity;
  private revision = 0n;
  private epoch = "";
  private queen = 0;
  private readonly bookmarkMs: number;

  constructor(private readonly opts: InformerOptions) {
    this.bookmarkMs = Math.max(100, opts.bookmarkIntervalMs ?? 1000);
    this.firstSync = new Promise((resolve, reject) => {
      this.resolveSync = resolve;
      this.rejectSync = reject;
    });
    this.firstSync.catch(() => {}); // a caller that never awaits synced() must not see an unhandled rejection
    this.loop = this.run();
  }

  /** Resolves once the first snapshot is in the cache; rejects if the informer is closed first. */
  synced(): Promise<void> {
    return this.firstSync;
  }

  /**
   * Resolves once the cache has applied every change up to `revision` (as FindWorkersResponse.revision
   * or a write's answer names it), or has re-synced from a queen of another epoch.
   */
  whenRevision(revision: bigint): Promise<void> {
    return this.waiters.wait(revision, this.revision, this.epoch);
  }

  /** Subscribes to changes of the cache; returns the unsubscribe function. Handlers run synchronously, in order. */
  on(type: ChangeType, handler: InformerHandler): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  /** FindWorkers answered from the cache: the same filters, orders and limit as the queen's. */
  find(filter: FindFilter = {}): FindWorkersResponse {
    const req = isMessage(filter, FindWorkersRequestSchema) ? filter : create(FindWorkersRequestSchema, filter);
    return this.index.find(req, this.revision);
  }

  /** One RUNNING worker of the model on a HEALTHY hive, chosen by the policy; undefined when there is none. */
  pick(model: string, policy: PickPolicy = "least-loaded"): CachedWorker | undefined {
    return pickFrom(this.index.candidatesOf(model), policy);
  }

  /** The model's pickable workers (RUNNING, HEALTHY hive): a live array, to read at once. */
  candidates(model: string): readonly CachedWorker[] {
    return this.index.candidatesOf(model)?.list ?? [];
  }

  /**
   * Notes that a request was sent to the worker: until its next update arrives, least-loaded counts
   * it as one more request waiting, so that picks made between two reports spread out.
   */
  recordDispatch(worker: CachedWorker, count = 1): void {
    if (worker.hive.workers.get(worker.worker.workerId) !== worker) return; // no longer cached
    worker.dispatched += count;
    this.index.loadChanged(worker);
  }

  hive(hiveId: string): CachedHive | undefined {
    return this.index.hives.get(hiveId);
  }

  hives(): IterableIterator<CachedHive> {
    return this.index.hives.values();
  }

  /** The hives carrying this label with this value. */
  hivesWithLabel(key: string, value: string): ReadonlySet<CachedHive> {
    return this.index.hivesWithLabel(key, value);
  }

  workerCount(): number {
    return this.index.workerCount();
  }

  staleness(now = performance.now()): Staleness {
    const since = now - this.lastMessageAt;
    return {
      synced: this.isSynced,
      live: this.streamLive && since <= 3 * this.bookmarkMs,
      sinceLastMessageMs: since,
      revision: this.revision,
      epoch: this.epoch,
      queen: this.queen,
    };
  }

  /** Stops the Watch; the cache keeps its last state. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const request = create(WatchRequestSchema, {
      model: this.opts.model ?? "",
      hiveIds: [...(this.opts.hiveIds ?? [])],
      bookmarkInterval: durationFromMs(this.bookmarkMs),
    });
    try {
      const stream = resumingWatch(this.opts.queens, request, {
        signal: this.abort.signal,
        ...(this.opts.maxBackoffMs !== undefined ? { maxBackoffMs: this.opts.maxBackoffMs } : {}),
        onRetry: (err, failures, next) => {
          this.streamLive = false;
          this.queen = next;
          this.opts.onRetry?.(err, failures, next);
        },
      });
      for await (const message of stream) this.apply(message);
      this.rejectSync(new Error("informer closed before its first snapshot"));
    } catch (err) {
      this.rejectSync(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.streamLive = false;
      this.waiters.close();
    }
  }

  private apply(res: WatchResponse): void {
    this.lastMessageAt = performance.now();
    this.streamLive = true;
    const kind = res.kind;
    let changes: InformerChange[] = [];
    if (kind.case === "hive" && kind.value.hive) changes = this.index.applyHive(kind.value.type, kind.value.hive, res.snapshot);
    else if (kind.case === "worker" && kind.value.worker) changes = this.index.applyWorker(kind.value.type, kind.value.hiveId, kind.value.worker, res.snapshot);
    // Revisions inside a snapshot are not resume points (resuming-watch.ts); its end is.
    if (!res.snapshot || kind.case === "snapshotEnd") {
      this.revision = res.revision;
      this.epoch = res.epoch;
    }
    for (const change of changes) this.emit(change);
    if (kind.case === "snapshotEnd" && !this.isSynced) {
      this.isSynced = true;
      this.resolveSync();
    }
    this.waiters.reached(this.revision, this.epoch, kind.case === "snapshotEnd");
  }

  private emit(change: InformerChange): void {
    const set = this.handlers.get(change.type);
    if (!set) return;
    for (const handler of set) {
      try {
        handler(change);
      } catch (err) {
        if (this.opts.onHandlerError) this.opts.onHandlerError(err, change);
        else process.emitWarning(`apiary informer: a "${change.type}" handler threw: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}
