import type { RegistryEvent, RegistryReadView } from "../registry/registry.js";
import { ChangeType } from "../registry/registry.js";
import { entryKey, objectKey, WatcherQueue } from "./watcher-queue.js";
import { ResumeLedgers, StreamLedger, type ResumeCursor } from "./watch-resume-ledger.js";
import { TurnBudget } from "../../common/turn-budget.js";

/** Watch events all streams together produce per event-loop turn (see TurnBudget). */
export const DEFAULT_WATCH_EVENTS_PER_TURN = 500;

/** What a watcher asked for, validated. */
export interface WatchParams {
  sinceRevision: number;
  epoch: string;
  hiveIds: ReadonlySet<string> | undefined;
  model: string;
  hives: boolean;
  workers: boolean;
  bookmarkIntervalMs: number;
  minUpdateIntervalMs: number;
  /** Events per WatchResponse (the batch case); 0 = one event per message. */
  maxBatch: number;
  /** Where to resume exactly (WatchRequest.resume_token); takes precedence over sinceRevision. */
  resumeFrom?: ResumeCursor;
}

/** A watch's filters as one string: a resume token resumes only a stream with the same ones. */
function filterKey(params: WatchParams): string {
  return JSON.stringify([params.hiveIds ? [...params.hiveIds].sort() : null, params.model, params.hives, params.workers]);
}

/**
 * What a watcher sees of an event: its type, nothing (undefined), or, when a worker's model change
 * moves it into or out of the watcher's model filter, ADDED or REMOVED.
 */
export function watchedType(params: WatchParams, event: RegistryEvent): ChangeType | undefined {
  if (params.hiveIds && !params.hiveIds.has(event.hiveId)) return undefined;
  if (event.kind === "hive") return params.hives ? event.type : undefined;
  if (!params.workers) return undefined;
  if (params.model === "") return event.type;
  const matches = event.worker.model === params.model;
  if (event.previousModel === undefined) return matches ? event.type : undefined;
  const matched = event.previousModel === params.model;
  if (matches) return matched ? ChangeType.Updated : ChangeType.Added;
  return matched ? ChangeType.Removed : undefined;
}

function offerTo(queue: WatcherQueue, params: WatchParams, event: RegistryEvent, key: string): void {
  const type = watchedType(params, event);
  if (type !== undefined) queue.offer(event, type, key);
}

/**
 * How a Watch that asked to resume (resume_token or since_revision) began: replayed, or started
 * over with a snapshot because of the token's epoch (another queen, a restart), its filters, its
 * stream's ledger being gone, a position older than the ledger keeps, or history no longer retained.
 */
export type ResumeResult = "replayed" | "epoch" | "filters" | "ledger" | "position" | "history";

/** One open Watch: its queue, and the snapshot to send first (when it could not resume). */
export interface WatchSession {
  readonly id: number;
  readonly params: WatchParams;
  readonly queue: WatcherQueue;
  /** ADDED events of the snapshot, or undefined when the watch resumed from history. */
  readonly snapshot: RegistryEvent[] | undefined;
  /** Revision the snapshot (or the resume point) is at. */
  readonly startRevision: number;
  /** Where the stream stood at each message: what its resume tokens name. */
  readonly ledger: StreamLedger;
}

/** Fans registry events out to every watcher's queue, synchronously and without ever waiting. */
export class WatchHub {
  private readonly sessions = new Set<WatchSession>();
  /** Sessions without a hive_ids filter: offered every event. */
  private readonly anyHive = new Set<WatchSession>();
  /** Sessions with a hive_ids filter, under each of their hives: an event only visits its hive's watchers. */
  private readonly byHive = new Map<string, Set<WatchSession>>();
  private readonly unsubscribe: () => void;
  private nextId = 1;
  private closedCoalesced = 0;
  private overflows = 0;
  private readonly resumes = new Map<ResumeResult, number>();
  private readonly ledgers = new ResumeLedgers();
  /**
   * The last snapshot taken, shared by every watch opened at the same revision with the same
   * filters: a burst of identical Watch calls (a dashboard fleet reconnecting, or a rapid-reset
   * attack) costs one walk of the registry, not one per stream.
   */
  private lastSnapshot: { revision: number; filters: string; events: RegistryEvent[] } | undefined;

  /** Shared by every stream: bounds fan-out work per event-loop turn. */
  readonly budget: TurnBudget;

  constructor(
    readonly registry: RegistryReadView,
    private readonly maxPending: number,
    eventsPerTurn = DEFAULT_WATCH_EVENTS_PER_TURN,
  ) {
    this.budget = new TurnBudget(eventsPerTurn);
    this.unsubscribe = registry.subscribe((event) => {
      const ofHive = this.byHive.get(event.hiveId);
      if (this.anyHive.size === 0 && ofHive === undefined) return; // nobody watches: no key to build
      const key = objectKey(event); // one string for every queue: built and hashed once
      for (const session of this.anyHive) offerTo(session.queue, session.params, event, key);
      if (ofHive) for (const session of ofHive) offerTo(session.queue, session.params, event, key);
    });
  }

  /**
   * Opens a watch at the registry's current revision: replays retained history after
   * since_revision when the epoch matches and nothing after it was dropped; else takes a snapshot.
   * Synchronous, so no event can fall between the snapshot (or replay) and the live feed.
   */
  open(params: WatchParams): WatchSession {
    const queue = new WatcherQueue(params.minUpdateIntervalMs, this.maxPending);
    const current = this.registry.revision();
    const filters = filterKey(params);
    let snapshot: RegistryEvent[] | undefined;
    let startRevision = current;
    if (params.resumeFrom) {
      const resumed = this.resumeExactly(params, params.resumeFrom, filters, queue);
      if (typeof resumed === "number") startRevision = resumed;
      else snapshot = this.snapshot(params, current, filters);
      this.countResume(typeof resumed === "number" ? "replayed" : resumed);
    } else {
      const sameEpoch = params.epoch === this.registry.epoch;
      const replay = params.sinceRevision > 0 && sameEpoch ? this.registry.eventsSince(params.sinceRevision) : undefined;
      if (replay) {
        for (const event of replay) offerTo(queue, params, event, objectKey(event));
        startRevision = params.sinceRevision;
      } else {
        snapshot = this.snapshot(params, current, filters);
      }
      if (params.sinceRevision > 0) this.countResume(replay ? "replayed" : sameEpoch ? "history" : "epoch");
    }
    const id = this.nextId++;
    const ledger = new StreamLedger(id, filters, queue);
    this.ledgers.add(ledger);
    const session: WatchSession = { id, params, queue, snapshot, startRevision, ledger };
    this.sessions.add(session);
    if (!params.hiveIds) this.anyHive.add(session);
    else {
      for (const hiveId of params.hiveIds) {
        let set = this.byHive.get(hiveId);
        if (!set) this.byHive.set(hiveId, (set = new Set()));
        set.add(session);
      }
    }
    return session;
  }

  close(session: WatchSession): void {
    if (!this.sessions.delete(session)) return session.queue.close();
    this.ledgers.end(session.ledger, this.registry.revision());
    this.closedCoalesced += session.queue.coalesced();
    if (session.queue.isOverflowed()) this.overflows++;
    this.anyHive.delete(session);
    for (const hiveId of session.params.hiveIds ?? []) {
      const set = this.byHive.get(hiveId);
      set?.delete(session);
      if (set?.size === 0) this.byHive.delete(hiveId);
    }
    session.queue.close();
  }

  /** Ends every watch (server shutdown). */
  closeAll(): void {
    for (const session of this.sessions) session.queue.close();
    this.sessions.clear();
    this.anyHive.clear();
    this.byHive.clear();
    this.ledgers.clear();
    this.unsubscribe();
  }

  /** Open watchers and their undelivered entry counts. */
  /** Open Watch streams. */
  get watcherCount(): number {
    return this.sessions.size;
  }

  stats(): { id: number; pending: number }[] {
    return [...this.sessions].map((s) => ({ id: s.id, pending: s.queue.size() }));
  }

  /** Changes coalesced in watcher queues and watchers ended for overflowing, since the hub started. */
  totals(): { coalesced: number; overflowed: number } {
    let coalesced = this.closedCoalesced;
    let overflowed = this.overflows;
    for (const s of this.sessions) {
      coalesced += s.queue.coalesced();
      if (s.queue.isOverflowed()) overflowed++;
    }
    return { coalesced, overflowed };
  }

  /** Watches that asked to resume, by how they began, since the hub started. */
  resumeCounts(): ReadonlyMap<ResumeResult, number> {
    return this.resumes;
  }

  private countResume(result: ResumeResult): void {
    this.resumes.set(result, (this.resumes.get(result) ?? 0) + 1);
  }

  /**
   * Fills `queue` with what was still undelivered at the token's message: the changes after its
   * revision, and before it only those of the entries then pending, from each one's first change
   * on. Returns the revision the replay starts after, or why the token cannot be honoured: then
   * a snapshot.
   */
  private resumeExactly(params: WatchParams, cursor: ResumeCursor, filters: string, queue: WatcherQueue): number | Exclude<ResumeResult, "replayed"> {
    if (cursor.epoch !== this.registry.epoch || cursor.throughRevision > this.registry.revision()) return "epoch";
    const ledger = this.ledgers.get(cursor.streamId);
    if (!ledger) return "ledger";
    if (ledger.filterKey !== filters) return "filters";
    const pending = ledger.pendingAt(cursor);
    if (!pending) return "position";
    let from = cursor.throughRevision;
    for (const first of pending.values()) from = Math.min(from, first - 1);
    const events = this.registry.eventsSince(from);
    if (!events) return "history";
    for (const event of events) {
      const type = watchedType(params, event);
      if (type === undefined) continue;
      if (event.revision <= cursor.throughRevision) {
        const first = pending.get(entryKey(event, type));
        if (first === undefined || event.revision < first) continue;
      }
      queue.offer(event, type);
    }
    return from;
  }

  private snapshot(params: WatchParams, revision: number, filters: string): RegistryEvent[] {
    const cached = this.lastSnapshot;
    if (cached?.revision === revision && cached.filters === filters) return cached.events;
    const events: RegistryEvent[] = [];
    this.lastSnapshot = { revision, filters, events };
    const hives = params.hiveIds
      ? [...params.hiveIds].map((id) => this.registry.hive(id)).filter((h) => h !== undefined)
      : [...this.registry.hives()];
    hives.sort((a, b) => (a.hiveId < b.hiveId ? -1 : a.hiveId > b.hiveId ? 1 : 0));
    if (params.hives) {
      for (const hive of hives) {
        events.push({ revision, kind: "hive", type: ChangeType.Added, hiveId: hive.hiveId, hive: this.registry.hiveStatus(hive, false) });
      }
    }
    if (params.workers) {
      for (const hive of hives) {
        for (const worker of hive.workers.values()) {
          if (params.model !== "" && worker.model !== params.model) continue;
          events.push({ revision, kind: "worker", type: ChangeType.Added, hiveId: hive.hiveId, worker });
        }
      }
    }
    return events;
  }
}
