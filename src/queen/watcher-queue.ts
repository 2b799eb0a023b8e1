import { ChangeType, type RegistryEvent } from "./registry.js";

/** An undelivered change for one object: the latest event, and the type the watcher must see. */
export interface PendingChange {
  readonly type: ChangeType;
  readonly event: RegistryEvent;
}

interface Held extends PendingChange {
  readonly dueAtMs: number;
}

/** Identifies the object an event is about. */
export function objectKey(event: RegistryEvent): string {
  return event.kind === "hive" ? `h\u0000${event.hiveId}` : `w\u0000${event.hiveId}\u0000${event.worker.workerId}`;
}

const REMOVED_SUFFIX = "\u0000removed";

/**
 * One watcher's undelivered changes, coalesced per object so a slow or stalled watcher holds at
 * most one entry per live object (plus one per object removed since it last read):
 * - the latest state of an object replaces an older undelivered one (an undelivered ADDED stays ADDED);
 * - a REMOVED replaces every pending change of its object and is never dropped; an ADDED after a
 *   pending REMOVED is kept beside it (REMOVED is delivered first);
 * - entries are delivered in revision order (a replaced entry moves to the end);
 * - with minUpdateMs, an object's UPDATED waits until minUpdateMs after its previous delivery
 *   (held aside, still coalescing); ADDED and REMOVED are never delayed.
 * The publisher only ever calls offer(), which never waits.
 */
export class WatcherQueue {
  private readonly pending = new Map<string, PendingChange>();
  private readonly held = new Map<string, Held>();
  private readonly lastSentMs = new Map<string, number>();
  private wake: (() => void) | undefined;
  private overflowed = false;
  private closed = false;
  private coalescedCount = 0;

  constructor(
    private readonly minUpdateMs: number,
    private readonly maxPending: number,
  ) {}

  /** `type` is what this watcher must see, when its filter makes it differ from the event's own type. */
  offer(event: RegistryEvent, type: ChangeType = event.type): void {
    if (this.closed || this.overflowed) return;
    const key = objectKey(event);
    if (type === ChangeType.Removed) {
      if (this.pending.delete(key)) this.coalescedCount++;
      if (this.held.delete(key)) this.coalescedCount++;
      this.lastSentMs.delete(key);
      this.pending.delete(key + REMOVED_SUFFIX);
      this.pending.set(key + REMOVED_SUFFIX, { type: ChangeType.Removed, event });
    } else {
      const held = this.held.get(key);
      if (held) {
        this.coalescedCount++;
        this.held.set(key, { type: held.type, event, dueAtMs: held.dueAtMs });
      } else {
        const previous = this.pending.get(key);
        if (previous) this.coalescedCount++;
        this.pending.delete(key);
        this.pending.set(key, { type: previous?.type === ChangeType.Added ? ChangeType.Added : type, event });
      }
    }
    if (this.size() > this.maxPending) this.overflowed = true;
    this.notify();
  }

  /** The next change due for delivery at nowMs, removed from the queue. */
  take(nowMs: number): PendingChange | undefined {
    for (const [key, change] of this.pending) {
      this.pending.delete(key);
      if (this.minUpdateMs > 0 && change.type === ChangeType.Updated) {
        const last = this.lastSentMs.get(key);
        if (last !== undefined && nowMs - last < this.minUpdateMs) {
          this.held.set(key, { ...change, dueAtMs: last + this.minUpdateMs });
          continue;
        }
      }
      if (this.minUpdateMs > 0 && change.type !== ChangeType.Removed) this.lastSentMs.set(key, nowMs);
      return change;
    }
    return undefined;
  }

  /** Moves held UPDATEDs whose time has come back into the queue; returns the next due time, if any. */
  releaseDue(nowMs: number): number | undefined {
    let next: number | undefined;
    for (const [key, held] of this.held) {
      if (held.dueAtMs <= nowMs) {
        this.held.delete(key);
        this.pending.set(key, { type: held.type, event: held.event });
      } else if (next === undefined || held.dueAtMs < next) next = held.dueAtMs;
    }
    return next;
  }

  /** Lowest revision among held changes (a bookmark must not pass it). */
  minHeldRevision(): number | undefined {
    let min: number | undefined;
    for (const held of this.held.values()) if (min === undefined || held.event.revision < min) min = held.event.revision;
    return min;
  }

  /** Undelivered changes replaced by a later one of the same object (metrics). */
  coalesced(): number {
    return this.coalescedCount;
  }

  /** Number of undelivered entries (pending and held). */
  size(): number {
    return this.pending.size + this.held.size;
  }

  hasDue(): boolean {
    return this.pending.size > 0;
  }

  isOverflowed(): boolean {
    return this.overflowed;
  }

  isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    this.pending.clear();
    this.held.clear();
    this.notify();
  }

  /** Resolves when work arrives, the queue closes, or after timeoutMs. */
  waitForWork(timeoutMs: number): Promise<void> {
    if (this.pending.size > 0 || this.closed || this.overflowed) return Promise.resolve();
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

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
