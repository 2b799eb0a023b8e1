import { ChangeType, type RegistryEvent } from "../registry/registry.js";
import { EntryHeap } from "./watch-entry-heap.js";

/** An undelivered change for one object: the latest event, and the type the watcher must see. */
export interface PendingChange {
  readonly type: ChangeType;
  readonly event: RegistryEvent;
}

/** Identifies the object an event is about. */
export function objectKey(event: RegistryEvent): string {
  return event.kind === "hive" ? `h\u0000${event.hiveId}` : `w\u0000${event.hiveId}\u0000${event.worker.workerId}`;
}

const REMOVED_SUFFIX = "\u0000removed";
/** The most a held UPDATED waits past its due time, so that held ones are released together (nextReleaseMs). */
const MAX_RELEASE_SLACK_MS = 50;

/** The key of the queue entry a change of this type goes to (a REMOVED has its own, beside the live one). */
export function entryKey(event: RegistryEvent, type: ChangeType): string {
  return type === ChangeType.Removed ? objectKey(event) + REMOVED_SUFFIX : objectKey(event);
}

interface Entry extends PendingChange {
  type: ChangeType;
  event: RegistryEvent;
  readonly key: string;
  /** Revision of the oldest change this entry carries: its place in line, fixed for its life. */
  readonly firstRevision: number;
  /** When a held UPDATED may go out (0 while not held). */
  dueAtMs: number;
  heapIndex: number;
  /** Neighbours in the list of every undelivered entry, oldest first. */
  older: Entry | undefined;
  newer: Entry | undefined;
}

/**
 * One watcher's undelivered changes, coalesced per object so a slow or stalled watcher holds at
 * most one entry per live object (plus one per object removed since it last read):
 * - the latest state of an object replaces an older undelivered one in place: the entry keeps the
 *   revision of the oldest change it carries (its `firstRevision`), and an undelivered ADDED stays ADDED;
 * - a REMOVED replaces every pending change of its object and is never dropped; an ADDED after a
 *   pending REMOVED is kept beside it (the REMOVED has the older firstRevision, so goes first);
 * - entries go out in firstRevision order;
 * - with minUpdateMs, an object's UPDATED waits until minUpdateMs after its previous delivery
 *   (held aside in a heap by due time, still coalescing); ADDED and REMOVED are never delayed.
 * {@link resumePoint} is the revision up to which every change has gone out: one less than the
 * oldest firstRevision still undelivered (held ones included). Stamping every message with it is
 * what makes any message a safe place to resume from.
 * The publisher only ever calls offer(), which never waits. Every operation is O(log n).
 */
export class WatcherQueue {
  private readonly entries = new Map<string, Entry>();
  private readonly ready = new EntryHeap<Entry>((a, b) => a.firstRevision < b.firstRevision);
  private readonly held = new EntryHeap<Entry>((a, b) => a.dueAtMs < b.dueAtMs || (a.dueAtMs === b.dueAtMs && a.firstRevision < b.firstRevision));
  private readonly lastSentMs = new Map<string, number>();
  private oldest: Entry | undefined;
  private newest: Entry | undefined;
  private wake: (() => void) | undefined;
  private overflowed = false;
  private closed = false;
  private coalescedCount = 0;
  /** Told of every entry that leaves the queue, sent or superseded (the stream's resume ledger). */
  onDeparture: ((key: string, firstRevision: number) => void) | undefined;

  constructor(
    private readonly minUpdateMs: number,
    private readonly maxPending: number,
  ) {}

  /**
   * `type` is what this watcher must see, when its filter makes it differ from the event's own type;
   * `key` is objectKey(event), made once by a caller that offers the event to many queues (building
   * and hashing it per queue was a third of a fanning-out queen's CPU).
   */
  offer(event: RegistryEvent, type: ChangeType = event.type, key = objectKey(event)): void {
    if (this.closed || this.overflowed) return;
    if (type === ChangeType.Removed) {
      const live = this.entries.get(key);
      if (live) {
        this.drop(live);
        this.coalescedCount++;
      }
      this.lastSentMs.delete(key);
      const removed = this.entries.get(key + REMOVED_SUFFIX);
      if (removed) removed.event = event;
      else if (this.add(key + REMOVED_SUFFIX, ChangeType.Removed, event)) this.notify();
    } else {
      const entry = this.entries.get(key);
      if (entry) {
        // In line already, or held: the consumer has nothing new to do.
        this.coalescedCount++;
        entry.event = event;
        if (entry.type !== ChangeType.Added) entry.type = type;
      } else if (this.add(key, type, event)) {
        this.notify();
      }
    }
    if (this.entries.size > this.maxPending && !this.overflowed) {
      this.overflowed = true;
      this.notify();
    }
  }

  /** The next change due for delivery at nowMs, removed from the queue. */
  take(nowMs: number): PendingChange | undefined {
    for (let entry = this.ready.pop(); entry; entry = this.ready.pop()) {
      if (this.minUpdateMs > 0) {
        if (entry.type === ChangeType.Updated) {
          const last = this.lastSentMs.get(entry.key);
          // Compared as the due time itself, so a released entry is never held again by rounding.
          if (last !== undefined && nowMs < last + this.minUpdateMs) {
            entry.dueAtMs = last + this.minUpdateMs;
            this.held.push(entry);
            continue;
          }
        }
        if (entry.type !== ChangeType.Removed) this.lastSentMs.set(entry.key, nowMs);
      }
      this.unlink(entry);
      this.onDeparture?.(entry.key, entry.firstRevision);
      return entry;
    }
    return undefined;
  }

  /** Moves held UPDATEDs whose time has come back in line: O(log n) each, the rest untouched. */
  releaseDue(nowMs: number): void {
    for (let top = this.held.peek(); top && top.dueAtMs <= nowMs; top = this.held.peek()) {
      this.held.pop();
      top.dueAtMs = 0;
      this.ready.push(top);
    }
  }

  /** When the next held UPDATED is due, if any. */
  nextDueMs(): number | undefined {
    return this.held.peek()?.dueAtMs;
  }

  /**
   * When the consumer should wake for held UPDATEDs, if any are held: a tenth of the interval (at
   * most 50 ms) after the first is due, so that those due in that while go out together. Due times
   * are spread over the whole interval; waking for each would be a wake-up per change.
   */
  nextReleaseMs(): number | undefined {
    const due = this.held.peek()?.dueAtMs;
    return due === undefined ? undefined : due + Math.min(MAX_RELEASE_SLACK_MS, this.minUpdateMs / 10);
  }

  /**
   * The revision every change up to which has gone out to this watcher, given the registry's
   * current revision (which every change up to has been offered). Never decreases.
   */
  resumePoint(currentRevision: number): number {
    return this.oldest ? this.oldest.firstRevision - 1 : currentRevision;
  }

  /** Every undelivered entry's key and first revision. */
  *pendingEntries(): Iterable<{ key: string; firstRevision: number }> {
    yield* this.entries.values();
  }

  /** Undelivered changes replaced by a later one of the same object (metrics). */
  coalesced(): number {
    return this.coalescedCount;
  }

  /** Number of undelivered entries (in line and held). */
  size(): number {
    return this.entries.size;
  }

  /** Entries ready to go out now. */
  readyCount(): number {
    return this.ready.size;
  }

  isOverflowed(): boolean {
    return this.overflowed;
  }

  isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    this.entries.clear();
    this.ready.clear();
    this.held.clear();
    this.lastSentMs.clear();
    this.oldest = this.newest = undefined;
    this.notify();
  }

  /** Resolves when work arrives, the queue closes, or after timeoutMs. */
  waitForWork(timeoutMs: number): Promise<void> {
    if (this.ready.size > 0 || this.closed || this.overflowed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.wake === done) self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  /**
   * A new entry, in line or, for an UPDATED of an object sent less than minUpdateMs ago as far as
   * the queue knows, held until then (take would hold it anyway: no wake-up, no heap round trip
   * for each of the fleet's changes). Returns whether the consumer must be woken: the entry is in
   * line, or it is the first held one due (the consumer sleeps until the one it knew of).
   */
  private add(key: string, type: ChangeType, event: RegistryEvent): boolean {
    const entry: Entry = { key, type, event, firstRevision: event.revision, dueAtMs: 0, heapIndex: -1, older: this.newest, newer: undefined };
    if (this.newest) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
    this.entries.set(key, entry);
    const last = type === ChangeType.Updated && this.minUpdateMs > 0 ? this.lastSentMs.get(key) : undefined;
    if (last === undefined) {
      this.ready.push(entry);
      return true;
    }
    // A due time already past releases at the consumer's next releaseDue, as any held entry's.
    entry.dueAtMs = last + this.minUpdateMs;
    this.held.push(entry);
    return this.held.peek() === entry;
  }

  /** Forgets an undelivered entry (superseded by a REMOVED). */
  private drop(entry: Entry): void {
    if (entry.dueAtMs > 0) this.held.remove(entry);
    else this.ready.remove(entry);
    this.unlink(entry);
    this.onDeparture?.(entry.key, entry.firstRevision);
  }

  private unlink(entry: Entry): void {
    this.entries.delete(entry.key);
    if (entry.older) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    if (entry.newer) entry.newer.older = entry.older;
    else this.newest = entry.older;
    entry.older = entry.newer = undefined;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
