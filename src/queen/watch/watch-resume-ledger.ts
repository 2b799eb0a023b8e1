import type { WatcherQueue } from "./watcher-queue.js";

/** Departures a stream's ledger keeps: a token more than this many deliveries old starts a snapshot. */
export const LEDGER_MAX_DEPARTURES = 4096;
/** How long an ended stream's ledger stays resumable. */
export const LEDGER_RETAIN_MS = 5 * 60_000;
/** Departures all ended streams' ledgers keep together (the oldest ledgers go first). */
export const LEDGERS_MAX_RETAINED_DEPARTURES = 1 << 18;

const TOKEN_PREFIX = "a1";

/** What a resume token names: message `seq` of stream `streamId`, built when the registry was at `throughRevision`. */
export interface ResumeCursor {
  readonly epoch: string;
  readonly streamId: number;
  readonly seq: number;
  readonly throughRevision: number;
}

export function encodeResumeToken(cursor: ResumeCursor): Uint8Array {
  return Buffer.from(`${TOKEN_PREFIX}:${cursor.epoch}:${cursor.streamId}:${cursor.seq}:${cursor.throughRevision}`, "utf8");
}

/** The cursor in a token, or undefined when the bytes are not a resume token at all. */
export function decodeResumeToken(token: Uint8Array): ResumeCursor | undefined {
  if (token.length > 256) return undefined;
  const parts = Buffer.from(token).toString("utf8").split(":");
  if (parts.length !== 5 || parts[0] !== TOKEN_PREFIX) return undefined;
  const [streamId, seq, throughRevision] = parts.slice(2).map((p) => (/^\d{1,15}$/.test(p) ? Number(p) : NaN));
  if (![streamId, seq, throughRevision].every(Number.isSafeInteger)) return undefined;
  return { epoch: parts[1], streamId, seq, throughRevision };
}

/** An entry that left a watcher's queue (sent or superseded) before message `leftAt` was received. */
interface Departure {
  readonly key: string;
  readonly firstRevision: number;
  readonly leftAt: number;
}

/**
 * Where one Watch stream stood at each message it sent, so a client resuming from a message's
 * token gets exactly what was still undelivered then. The undelivered changes at message m are the
 * queue entries pending then: an entry pending at m is one made by a change at or before the
 * message's revision (`throughRevision`) that left the queue only after m (or is still in it). So
 * the ledger records each departure with the number of the first message that no longer had it,
 * O(1) per delivered event; a message's token carries its number and revision.
 */
export class StreamLedger {
  /** Number of the last message stamped. */
  private seq = 0;
  private departures: Departure[] = [];
  private head = 0;
  /** Tokens of messages numbered below this can no longer be honoured (their departures were dropped). */
  private oldestHonoured = 0;
  private queue: WatcherQueue | undefined;
  endedAtMs = 0;

  constructor(
    readonly streamId: number,
    /** The stream's filters: a token resumes only a stream with the same ones. */
    readonly filterKey: string,
    queue: WatcherQueue,
  ) {
    this.queue = queue;
    queue.onDeparture = (key, firstRevision) => this.depart(key, firstRevision);
  }

  /** Numbers the next message (call after taking its changes from the queue). */
  stamp(): number {
    return ++this.seq;
  }

  get retained(): number {
    return this.departures.length - this.head;
  }

  /** The stream ended: its queue's pending entries become departures that never happened. */
  end(nowMs: number, throughRevision: number): void {
    const queue = this.queue;
    if (!queue) return;
    this.queue = undefined;
    queue.onDeparture = undefined;
    this.endedAtMs = nowMs;
    if (queue.isOverflowed()) {
      this.oldestHonoured = Infinity;
      return;
    }
    for (const { key, firstRevision } of queue.pendingEntries()) {
      if (firstRevision <= throughRevision) this.departures.push({ key, firstRevision, leftAt: Infinity });
    }
  }

  /**
   * The entries pending when message `cursor.seq` was sent (key → first revision), or undefined
   * when that is no longer known.
   */
  pendingAt(cursor: ResumeCursor): Map<string, number> | undefined {
    if (cursor.seq < this.oldestHonoured || cursor.seq > this.seq || cursor.seq < 1) return undefined;
    if (this.queue?.isOverflowed()) return undefined;
    const pending = new Map<string, number>();
    for (let i = this.head; i < this.departures.length; i++) {
      const d = this.departures[i];
      if (d.leftAt > cursor.seq && d.firstRevision <= cursor.throughRevision) pending.set(d.key, d.firstRevision);
    }
    for (const { key, firstRevision } of this.queue?.pendingEntries() ?? []) {
      if (firstRevision <= cursor.throughRevision) pending.set(key, firstRevision);
    }
    return pending;
  }

  private depart(key: string, firstRevision: number): void {
    this.departures.push({ key, firstRevision, leftAt: this.seq + 1 });
    if (this.departures.length - this.head > LEDGER_MAX_DEPARTURES) {
      this.oldestHonoured = this.departures[this.head++].leftAt;
      if (this.head > LEDGER_MAX_DEPARTURES) {
        this.departures = this.departures.slice(this.head);
        this.head = 0;
      }
    }
  }
}

/** The ledgers of open streams and of recently ended ones, bounded in time and in total size. */
export class ResumeLedgers {
  private readonly open = new Map<number, StreamLedger>();
  /** Ended ledgers, oldest first (Map keeps insertion order). */
  private readonly ended = new Map<number, StreamLedger>();
  private endedDepartures = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  add(ledger: StreamLedger): void {
    this.open.set(ledger.streamId, ledger);
  }

  end(ledger: StreamLedger, throughRevision: number): void {
    if (!this.open.delete(ledger.streamId)) return;
    ledger.end(this.now(), throughRevision);
    this.ended.set(ledger.streamId, ledger);
    this.endedDepartures += ledger.retained;
    this.expire();
  }

  get(streamId: number): StreamLedger | undefined {
    this.expire();
    return this.open.get(streamId) ?? this.ended.get(streamId);
  }

  /** Ended ledgers still resumable (metrics, tests). */
  get endedCount(): number {
    return this.ended.size;
  }

  clear(): void {
    this.open.clear();
    this.ended.clear();
    this.endedDepartures = 0;
  }

  private expire(): void {
    const cutoff = this.now() - LEDGER_RETAIN_MS;
    for (const [id, ledger] of this.ended) {
      if (ledger.endedAtMs > cutoff && this.endedDepartures <= LEDGERS_MAX_RETAINED_DEPARTURES) break;
      this.ended.delete(id);
      this.endedDepartures -= ledger.retained;
    }
  }
}
