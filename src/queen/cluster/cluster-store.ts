import type { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import type { HiveInfo } from "../../../gen/apiary/v1/telemetry_pb.js";

/**
 * The cluster store: the durable membership several queens share (etcd in production, memory in
 * tests and for one queen). It never sees per-second telemetry: only who the hives are, which
 * queen holds each hive's Heartbeat stream, and health transitions.
 *
 * Keys (under a prefix, default "/apiary/"):
 *   queens/<queen_id>  QueenMember, attached to that queen's lease
 *   owners/<hive_id>   the owning queen's id, attached to the owner's lease
 *   hives/<hive_id>    HiveMembership, no lease
 * Every write is one transaction and gets one revision; changes are watchable from a revision.
 */

/** One queen of the cluster, as it registers itself. */
export interface QueenMember {
  queenId: string;
  /** Where other queens and clients reach it, e.g. "https://10.0.0.1:7833". */
  advertiseUrl: string;
  /** The queen process's Watch revision space (WatchResponse.epoch). */
  epoch: string;
  startedAtWallMs: number;
}

export interface HiveDepartureRecord {
  reason: string;
  workersLeftRunning: number;
  leftAtWallMs: number;
}

/** The durable part of one hive. */
export interface HiveMembership {
  hiveId: string;
  info: HiveInfo;
  incarnation: string;
  health: HiveHealth;
  /** True while some queen holds a Heartbeat stream of this incarnation. */
  connected: boolean;
  departure?: HiveDepartureRecord;
  /** Wall time of the queen that wrote it. */
  changedAtWallMs: number;
}

export interface Revisioned<T> {
  readonly value: T;
  /** The store revision of the write that left this value. */
  readonly modRevision: number;
}

/** Everything in the store at one revision. */
export interface ClusterSnapshot {
  readonly revision: number;
  readonly queens: ReadonlyMap<string, Revisioned<QueenMember>>;
  /** hive_id → owning queen_id. */
  readonly owners: ReadonlyMap<string, Revisioned<string>>;
  readonly hives: ReadonlyMap<string, Revisioned<HiveMembership>>;
}

/** One key's change. A delete carries no value; a lease expiry deletes like any other delete. */
export type ClusterChange =
  | { readonly kind: "queen"; readonly queenId: string; readonly value?: QueenMember; readonly modRevision: number }
  | { readonly kind: "owner"; readonly hiveId: string; readonly value?: string; readonly modRevision: number }
  | { readonly kind: "hive"; readonly hiveId: string; readonly value?: HiveMembership; readonly modRevision: number };

export interface ClusterWatchHandlers {
  /** The changes of one transaction, in key order, all with the same revision. */
  onChanges(revision: number, changes: readonly ClusterChange[]): void;
  /**
   * The watch cannot go on: StoreCompactedError (from < the store's compact revision: list again and
   * watch from the list's revision + 1) or StoreUnavailableError after the store's retry budget.
   * Called at most once; no onChanges follows.
   */
  onError(err: Error): void;
}

export interface ClusterWatch {
  close(): void;
}

/** Outcome of a conditional write. */
export type WriteOutcome =
  | { readonly ok: true; readonly revision: number }
  /** The comparison failed: the key's current state, so the caller can decide again. */
  | { readonly ok: false; readonly currentOwner: Revisioned<string> | undefined; readonly currentHive: Revisioned<HiveMembership> | undefined };

export interface ClusterStore {
  /** Grants a lease of ttlMs, registers the queen under it and keeps it alive. */
  openSession(member: QueenMember, ttlMs: number): Promise<QueenSession>;
  /** Everything, read at one revision. */
  list(): Promise<ClusterSnapshot>;
  /** Every change with revision > afterRevision, transaction by transaction, in revision order. */
  watch(afterRevision: number, handlers: ClusterWatchHandlers): ClusterWatch;
  /**
   * Writes on a hive nobody owns (its owner's lease expired): compares owner absent and the hive's
   * modRevision, so of several queens judging the same orphan exactly one write wins.
   * value undefined deletes the hive (eviction).
   */
  writeOrphan(hiveId: string, expectedModRevision: number, value: HiveMembership | undefined): Promise<WriteOutcome>;
  /** Stops watches and sessions' keep-alives (without revoking leases) and closes connections. */
  close(): Promise<void>;
}

/**
 * One queen's lease. Every write through it is fenced: it compares the hive's owner key with this
 * session (value and lease), as etcd's own election compares its leader key, so a queen whose lease
 * expired (a partition, a long pause) can never overwrite the queen that took its hives.
 */
export interface QueenSession {
  readonly queenId: string;
  /** Aborted when the lease is lost: the store said it is gone, or no keep-alive succeeded before the local deadline. */
  readonly lost: AbortSignal;
  /**
   * Takes a hive (its stream arrived here): puts owner=me under my lease and the membership, in one
   * transaction compared against the owner key as last seen (modRevision 0: absent). The hive's
   * stream is the evidence that it left its previous queen, so taking over is allowed; the compare
   * only orders concurrent claims.
   */
  claimHive(value: HiveMembership, expectedOwnerModRevision: number): Promise<WriteOutcome>;
  /** Writes the membership of a hive I own (health transition, departure); fenced. */
  updateHive(value: HiveMembership): Promise<WriteOutcome>;
  /** Deletes the hive and its owner key (goodbye, eviction); fenced. */
  removeHive(hiveId: string): Promise<WriteOutcome>;
  /** Revokes the lease: my queen key and owner keys go at once (clean shutdown). */
  close(): Promise<void>;
}

/** The store's history before this revision is gone. */
export class StoreCompactedError extends Error {
  constructor(readonly compactRevision: number) {
    super(`cluster store history compacted up to revision ${compactRevision}`);
    this.name = "StoreCompactedError";
  }
}

/** The store could not be reached within its retry budget. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/** A write through a session whose lease is gone (expired, revoked, or given up as lost). */
export class SessionLeaseGoneError extends Error {
  constructor(queenId: string) {
    super(`queen ${queenId}: its cluster store lease is gone`);
    this.name = "SessionLeaseGoneError";
  }
}
