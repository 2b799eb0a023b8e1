import {
  SessionLeaseGoneError,
  StoreCompactedError,
  StoreUnavailableError,
  type ClusterChange,
  type ClusterSnapshot,
  type ClusterStore,
  type ClusterWatch,
  type ClusterWatchHandlers,
  type HiveMembership,
  type QueenMember,
  type QueenSession,
  type Revisioned,
  type WriteOutcome,
} from "./cluster-store.js";

/**
 * The cluster store in one process, with etcd's semantics: one global revision, each write one
 * transaction whose changes share its revision, leases whose expiry deletes their keys in one
 * transaction, bounded history with compaction, and watches delivered asynchronously in revision
 * order. Several queens in one process may hold sessions on the same store (takeover in tests).
 */
export interface MemoryClusterStoreOptions {
  /** Lease clock in ms; inject to expire leases without waiting (then call expireDue()). */
  now?: () => number;
  /** Transactions kept for watch(after); older ones are compacted away. Default 10 000. */
  historyLimit?: number;
  /** How often due leases are expired on real timers; 0 disables (tests call expireDue()). Default 100. */
  sweepEveryMs?: number;
}

type Kind = ClusterChange["kind"];
type Value = QueenMember | string | HiveMembership;

interface Entry {
  readonly kind: Kind;
  readonly id: string;
  readonly value: Value;
  readonly modRevision: number;
  readonly lease: number;
}

interface Lease {
  readonly id: number;
  readonly ttlMs: number;
  expiresAt: number;
  readonly keys: Set<string>;
  readonly onGone: Set<(reason: Error) => void>;
}

interface Transaction {
  readonly revision: number;
  readonly changes: readonly ClusterChange[];
}

type Op = { put: Entry } | { del: string };

const PREFIX: Record<Kind, string> = { queen: "queens/", owner: "owners/", hive: "hives/" };
const keyOf = (kind: Kind, id: string): string => PREFIX[kind] + id;

export { SessionLeaseGoneError };

export class MemoryClusterStore implements ClusterStore {
  private readonly now: () => number;
  private readonly historyLimit: number;
  private readonly entries = new Map<string, Entry>();
  private readonly leases = new Map<number, Lease>();
  private readonly history: Transaction[] = [];
  private readonly watchers = new Set<MemoryWatch>();
  private readonly sessions = new Set<MemorySession>();
  private readonly partitioned = new Set<string>();
  private readonly keepAlives = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout | undefined;
  private rev = 0;
  private compactRev = 0;
  private nextLeaseId = 1;
  private closed = false;

  constructor(options: MemoryClusterStoreOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.historyLimit = options.historyLimit ?? 10_000;
    if (!(this.historyLimit >= 1)) throw new RangeError("historyLimit must be at least 1");
    const sweepEveryMs = options.sweepEveryMs ?? 100;
    if (sweepEveryMs > 0) {
      this.sweeper = setInterval(() => this.expireDue(), sweepEveryMs);
      this.sweeper.unref();
    }
  }

  /** The revision of the last write. */
  get revision(): number {
    return this.rev;
  }

  /** The oldest revision watch() can still start from. */
  get compactRevision(): number {
    return this.compactRev;
  }

  async openSession(member: QueenMember, ttlMs: number): Promise<QueenSession> {
    this.assertOpen();
    if (!(ttlMs > 0)) throw new RangeError(`ttlMs must be positive, got ${ttlMs}`);
    if (this.partitioned.has(member.queenId)) throw new StoreUnavailableError(`queen ${member.queenId} cannot reach the store`);
    const lease: Lease = { id: this.nextLeaseId++, ttlMs, expiresAt: this.now() + ttlMs, keys: new Set(), onGone: new Set() };
    this.leases.set(lease.id, lease);
    this.commit([{ put: this.entry("queen", member.queenId, { ...member }, lease.id) }]);
    const session = new MemorySession(this, member.queenId, lease);
    this.sessions.add(session);
    return session;
  }

  async list(): Promise<ClusterSnapshot> {
    this.assertOpen();
    const queens = new Map<string, Revisioned<QueenMember>>();
    const owners = new Map<string, Revisioned<string>>();
    const hives = new Map<string, Revisioned<HiveMembership>>();
    for (const e of [...this.entries.values()].sort((a, b) => compareKeys(keyOf(a.kind, a.id), keyOf(b.kind, b.id)))) {
      const rv = { value: copy(e.value), modRevision: e.modRevision };
      if (e.kind === "queen") queens.set(e.id, rv as Revisioned<QueenMember>);
      else if (e.kind === "owner") owners.set(e.id, rv as Revisioned<string>);
      else hives.set(e.id, rv as Revisioned<HiveMembership>);
    }
    return { revision: this.rev, queens, owners, hives };
  }

  watch(afterRevision: number, handlers: ClusterWatchHandlers): ClusterWatch {
    this.assertOpen();
    const w = new MemoryWatch(this, afterRevision + 1, handlers);
    this.watchers.add(w);
    w.schedule();
    return w;
  }

  async writeOrphan(hiveId: string, expectedModRevision: number, value: HiveMembership | undefined): Promise<WriteOutcome> {
    this.assertOpen();
    const owner = this.entries.get(keyOf("owner", hiveId));
    const hive = this.entries.get(keyOf("hive", hiveId));
    if (owner !== undefined || (hive?.modRevision ?? 0) !== expectedModRevision) return this.conflict(hiveId);
    const ops: Op[] = value === undefined ? [{ del: keyOf("hive", hiveId) }] : [{ put: this.entry("hive", hiveId, value, 0) }];
    return { ok: true, revision: this.commit(ops) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    for (const w of this.watchers) w.close();
    for (const s of this.sessions) s.stopKeepAlive();
  }

  // ---- test controls -------------------------------------------------------------------------

  /** Keep-alives that reached the store for this queen's sessions. */
  keepAliveCount(queenId: string): number {
    return this.keepAlives.get(queenId) ?? 0;
  }

  /** Expires the queen's current lease now: its keys go in one transaction and its session's `lost` aborts. */
  expireLease(queenId: string): void {
    for (const s of this.sessions) if (s.queenId === queenId) this.endLease(s.leaseId, new Error(`lease of queen ${queenId} expired`));
  }

  /** Revokes the queen's lease, as session.close() would. */
  revoke(queenId: string): void {
    for (const s of this.sessions) if (s.queenId === queenId) this.endLease(s.leaseId, new Error(`lease of queen ${queenId} revoked`));
  }

  /** Expires every lease whose TTL has run out on the store's clock. */
  expireDue(): void {
    const now = this.now();
    for (const lease of [...this.leases.values()]) {
      if (lease.expiresAt <= now) this.endLease(lease.id, new Error(`lease ${lease.id} expired`));
    }
  }

  /** Cuts one queen off the store: its keep-alives and writes fail until heal(). */
  partition(queenId: string): void {
    this.partitioned.add(queenId);
  }

  heal(queenId: string): void {
    this.partitioned.delete(queenId);
  }

  /** Drops history before `revision`: watch(after) with after + 1 < revision reports StoreCompactedError. */
  compact(revision: number): void {
    if (revision > this.rev) throw new RangeError(`cannot compact to ${revision}: the store is at ${this.rev}`);
    if (revision <= this.compactRev) return;
    this.compactRev = revision;
    while (this.history.length > 0 && this.history[0]!.revision < revision) this.history.shift();
    for (const w of this.watchers) w.schedule();
  }

  // ---- used by sessions and watches ------------------------------------------------------------

  /** @internal */
  fencedWrite(session: MemorySession, hiveId: string, ops: (() => Op[]) | undefined, claim?: number): WriteOutcome {
    this.assertOpen();
    if (this.partitioned.has(session.queenId)) throw new StoreUnavailableError(`queen ${session.queenId} cannot reach the store`);
    const owner = this.entries.get(keyOf("owner", hiveId));
    if (claim !== undefined) {
      if ((owner?.modRevision ?? 0) !== claim) return this.conflict(hiveId);
      if (!this.leases.has(session.leaseId)) throw new SessionLeaseGoneError(session.queenId);
    } else if (owner === undefined || owner.value !== session.queenId || owner.lease !== session.leaseId) {
      return this.conflict(hiveId);
    }
    return { ok: true, revision: this.commit(ops?.() ?? []) };
  }

  /** @internal */
  entry(kind: Kind, id: string, value: Value, lease: number): Entry {
    return { kind, id, value: copy(value), modRevision: 0, lease };
  }

  /** @internal */
  keepAlive(session: MemorySession): boolean {
    if (this.partitioned.has(session.queenId)) return false;
    const lease = this.leases.get(session.leaseId);
    if (lease === undefined) return false;
    lease.expiresAt = this.now() + lease.ttlMs;
    this.keepAlives.set(session.queenId, this.keepAliveCount(session.queenId) + 1);
    return true;
  }

  /** @internal */
  onLeaseGone(leaseId: number, fn: (reason: Error) => void): void {
    const lease = this.leases.get(leaseId);
    if (lease === undefined) fn(new Error(`lease ${leaseId} is gone`));
    else lease.onGone.add(fn);
  }

  /** @internal */
  endLease(leaseId: number, reason: Error): void {
    const lease = this.leases.get(leaseId);
    if (lease === undefined) return;
    this.leases.delete(leaseId);
    this.commit([...lease.keys].sort(compareKeys).map((del) => ({ del })));
    for (const fn of lease.onGone) fn(reason);
  }

  /** @internal */
  forgetSession(session: MemorySession): void {
    this.sessions.delete(session);
  }

  /** @internal Transactions with revision >= from, or undefined when compacted past `from`. */
  since(from: number): readonly Transaction[] | undefined {
    if (from < this.compactRev) return undefined;
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.history[mid]!.revision < from) lo = mid + 1;
      else hi = mid;
    }
    return this.history.slice(lo);
  }

  /** @internal */
  dropWatch(w: MemoryWatch): void {
    this.watchers.delete(w);
  }

  private conflict(hiveId: string): WriteOutcome {
    const owner = this.entries.get(keyOf("owner", hiveId));
    const hive = this.entries.get(keyOf("hive", hiveId));
    return {
      ok: false,
      currentOwner: owner && { value: owner.value as string, modRevision: owner.modRevision },
      currentHive: hive && { value: copy(hive.value) as HiveMembership, modRevision: hive.modRevision },
    };
  }

  /** Applies ops as one transaction; returns its revision (unchanged when nothing changed). */
  private commit(ops: Op[]): number {
    const changes: ClusterChange[] = [];
    const revision = this.rev + 1;
    for (const op of ops) {
      if ("put" in op) {
        const e: Entry = { ...op.put, modRevision: revision };
        const key = keyOf(e.kind, e.id);
        const old = this.entries.get(key);
        if (old !== undefined && old.lease !== 0) this.leases.get(old.lease)?.keys.delete(key);
        if (e.lease !== 0) this.leases.get(e.lease)?.keys.add(key);
        this.entries.set(key, e);
        changes.push(change(e.kind, e.id, copy(e.value), revision));
      } else {
        const old = this.entries.get(op.del);
        if (old === undefined) continue;
        if (old.lease !== 0) this.leases.get(old.lease)?.keys.delete(op.del);
        this.entries.delete(op.del);
        changes.push(change(old.kind, old.id, undefined, revision));
      }
    }
    if (changes.length === 0) return this.rev;
    this.rev = revision;
    changes.sort((a, b) => compareKeys(keyOf(a.kind, idOf(a)), keyOf(b.kind, idOf(b))));
    this.history.push({ revision, changes });
    if (this.history.length > this.historyLimit) {
      this.history.shift();
      this.compactRev = this.history[0]!.revision;
    }
    for (const w of this.watchers) w.schedule();
    return revision;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError("the memory cluster store is closed");
  }
}

class MemorySession implements QueenSession {
  private readonly abort = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  readonly lost = this.abort.signal;
  readonly leaseId: number;

  constructor(
    private readonly store: MemoryClusterStore,
    readonly queenId: string,
    lease: { readonly id: number; readonly ttlMs: number },
  ) {
    this.leaseId = lease.id;
    this.timer = setInterval(() => store.keepAlive(this), Math.max(1, Math.floor(lease.ttlMs / 3)));
    this.timer.unref();
    store.onLeaseGone(lease.id, (reason) => {
      this.stopKeepAlive();
      this.abort.abort(reason);
    });
  }

  async claimHive(value: HiveMembership, expectedOwnerModRevision: number): Promise<WriteOutcome> {
    const id = value.hiveId;
    return this.store.fencedWrite(
      this,
      id,
      () => [{ put: this.store.entry("owner", id, this.queenId, this.leaseId) }, { put: this.store.entry("hive", id, value, 0) }],
      expectedOwnerModRevision,
    );
  }

  async updateHive(value: HiveMembership): Promise<WriteOutcome> {
    return this.store.fencedWrite(this, value.hiveId, () => [{ put: this.store.entry("hive", value.hiveId, value, 0) }]);
  }

  async removeHive(hiveId: string): Promise<WriteOutcome> {
    return this.store.fencedWrite(this, hiveId, () => [{ del: keyOf("hive", hiveId) }, { del: keyOf("owner", hiveId) }]);
  }

  /** Revokes the lease; `lost` aborts as well (the session is over), as etcd's session Done() closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopKeepAlive();
    this.store.endLease(this.leaseId, new Error(`session of queen ${this.queenId} closed`));
    this.store.forgetSession(this);
  }

  /** @internal */
  stopKeepAlive(): void {
    clearInterval(this.timer);
  }
}

class MemoryWatch implements ClusterWatch {
  private scheduled = false;
  private done = false;

  constructor(
    private readonly store: MemoryClusterStore,
    private next: number,
    private readonly handlers: ClusterWatchHandlers,
  ) {}

  schedule(): void {
    if (this.scheduled || this.done) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  close(): void {
    this.done = true;
    this.store.dropWatch(this);
  }

  private drain(): void {
    if (this.done) return;
    const txns = this.store.since(this.next);
    if (txns === undefined) {
      this.close();
      this.handlers.onError(new StoreCompactedError(this.store.compactRevision));
      return;
    }
    for (const t of txns) {
      if (this.done) return;
      this.next = t.revision + 1;
      this.handlers.onChanges(t.revision, t.changes.map((c) => ({ ...c, value: copy(c.value) }) as ClusterChange));
    }
  }
}

function change(kind: Kind, id: string, value: Value | undefined, modRevision: number): ClusterChange {
  if (kind === "queen") return { kind, queenId: id, value: value as QueenMember | undefined, modRevision };
  if (kind === "owner") return { kind, hiveId: id, value: value as string | undefined, modRevision };
  return { kind, hiveId: id, value: value as HiveMembership | undefined, modRevision };
}

function idOf(c: ClusterChange): string {
  return c.kind === "queen" ? c.queenId : c.hiveId;
}

/** etcd orders keys by bytes; for the ASCII ids apiary uses, code-unit order is the same. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Values cross the store boundary by copy, as they would through etcd. */
function copy<T>(value: T): T {
  return value === undefined || typeof value === "string" ? value : structuredClone(value);
}
