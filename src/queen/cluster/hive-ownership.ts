import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import type { HiveInfo } from "../../../gen/apiary/v1/telemetry_pb.js";
import { Backoff } from "../../common/backoff.js";
import type { Clock } from "../../common/clock.js";
import type { HiveSessions } from "../ingest/hive-sessions.js";
import { ChangeType, type RegistryEvent, type RegistryWriter } from "../registry/registry.js";
import { ClusterUnavailableError } from "../registry/hive-claims.js";
import type { HiveMembership, QueenSession, WriteOutcome } from "./cluster-store.js";
import { membershipOf, membershipsEqual } from "./membership.js";
import type { StoreState } from "./store-state.js";

/** Tries of a claim whose compare failed (another queen claimed meanwhile) before the hello is refused. */
const CLAIM_TRIES = 3;
/** Retry delays of a membership write the store could not take (the lease still held). */
const RETRY = { baseMs: 200, capMs: 5_000 };

export interface HiveOwnershipDeps {
  queenId: string;
  registry: RegistryWriter;
  sessions: HiveSessions;
  state: StoreState;
  clock: Clock;
  logger: Logger;
  /** The open session, or undefined (with why) while there is none. */
  session(): QueenSession | undefined;
  noSessionReason(): string;
  /** Brings the cache's view of a hive that moved in line with the store (and its new owner's telemetry). */
  resync(hiveId: string): void;
}

/**
 * The hives whose streams this queen holds, and their writes to the cluster store: the claim on
 * hello, then only transitions (health, connected, departure, eviction), which it sees as the
 * registry's hive events; reports write nothing. Writes of one hive run one at a time, coalesced
 * to the latest state. A fenced write that fails means the hive moved: it becomes remote here.
 */
export class HiveOwnership {
  private readonly held = new Set<string>();
  /** Claims in flight: the store's view of these hives is about to change by this queen's hand. */
  private readonly claiming = new Set<string>();
  /** The latest state to write per hive (undefined = remove), while a write of that hive is queued. */
  private readonly pending = new Map<string, HiveMembership | undefined>();
  private readonly chains = new Map<string, Promise<void>>();
  /** Per hive: the retry of a write the store could not take, and its backoff. */
  private readonly retries = new Map<string, { timer: NodeJS.Timeout; backoff: Backoff }>();
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  /** Writes made, by kind (metrics). */
  readonly writes = { claim: 0, update: 0, remove: 0 };

  constructor(private readonly deps: HiveOwnershipDeps) {}

  start(): void {
    this.unsubscribe = this.deps.registry.subscribe((event) => this.onRegistryEvent(event));
  }

  holds(hiveId: string): boolean {
    return this.held.has(hiveId);
  }

  isClaiming(hiveId: string): boolean {
    return this.claiming.has(hiveId);
  }

  heldCount(): number {
    return this.held.size;
  }

  /** Takes the hive in the store before it is welcomed (HiveClaims.claim). */
  async claim(info: HiveInfo, incarnation: string): Promise<void> {
    const { state, logger } = this.deps;
    const hiveId = info.hiveId;
    if (this.stopped) throw new ClusterUnavailableError(`queen ${this.deps.queenId} is shutting down`);
    this.claiming.add(hiveId);
    this.pending.delete(hiveId);
    this.cancelRetry(hiveId);
    try {
      await this.serially(hiveId, async () => {
        for (let attempt = 1; ; attempt++) {
          const session = this.deps.session();
          if (!session) throw new ClusterUnavailableError(`queen ${this.deps.queenId} ${this.deps.noSessionReason()}`);
          const value: HiveMembership = { hiveId, info, incarnation, health: HiveHealth.HEALTHY, connected: true, changedAtWallMs: this.deps.clock.wallMs() };
          const previousOwner = state.owners.get(hiveId);
          this.writes.claim++;
          const outcome = await this.write(() => session.claimHive(value, previousOwner?.modRevision ?? 0));
          if (outcome.ok) {
            state.noteOwner(hiveId, this.deps.queenId, outcome.revision);
            state.noteHive(hiveId, value, outcome.revision);
            this.held.add(hiveId);
            logger.info({ hiveId, incarnation, previousOwner: previousOwner?.value, revision: outcome.revision }, "hive claimed");
            return;
          }
          state.noteCurrent(hiveId, outcome.currentOwner, outcome.currentHive);
          if (attempt >= CLAIM_TRIES) {
            throw new ClusterUnavailableError(`could not claim hive ${hiveId}: its owner key kept changing (now ${outcome.currentOwner?.value ?? "none"})`);
          }
        }
      });
    } finally {
      this.claiming.delete(hiveId);
    }
  }

  /** Another queen took the hive: end our stream for it (ABORTED) and keep it as remote. */
  lose(hiveId: string, newOwner: string | undefined): void {
    if (!this.held.delete(hiveId)) return;
    this.pending.delete(hiveId);
    this.deps.registry.makeRemote(hiveId, newOwner);
    const aborted = this.deps.sessions.abort(hiveId, new ConnectError(`heartbeat: hive ${hiveId} was claimed by queen ${newOwner ?? "(none)"}`, Code.Aborted));
    this.deps.logger.info({ hiveId, newOwner, streamClosed: aborted }, "hive taken by another queen");
  }

  /** The lease is gone: nothing is held any more; every stream ends with UNAVAILABLE. */
  dropAll(reason: string): void {
    const hiveIds = [...this.held];
    this.held.clear();
    this.pending.clear();
    this.cancelRetries();
    for (const hiveId of hiveIds) this.deps.registry.makeRemote(hiveId, undefined);
    this.deps.sessions.abortAll(new ConnectError(`heartbeat: queen ${this.deps.queenId} ${reason}`, Code.Unavailable));
  }

  /** Stops writing (shutdown); waits for the writes in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.pending.clear();
    this.cancelRetries();
    await Promise.all([...this.chains.values()]);
  }

  private onRegistryEvent(event: RegistryEvent): void {
    if (this.stopped || event.kind !== "hive" || !this.held.has(event.hiveId)) return;
    const hiveId = event.hiveId;
    if (event.type === ChangeType.Removed) {
      this.held.delete(hiveId);
      this.enqueue(hiveId, undefined);
      return;
    }
    const hive = this.deps.registry.hive(hiveId);
    if (!hive || hive.remote) return;
    const value = membershipOf(hive, this.deps.clock.wallMs());
    const known = this.pending.has(hiveId) ? this.pending.get(hiveId) : this.deps.state.hives.get(hiveId)?.value;
    if (known && membershipsEqual(known, value)) return;
    this.enqueue(hiveId, value);
  }

  private enqueue(hiveId: string, value: HiveMembership | undefined): void {
    const queued = this.pending.has(hiveId);
    this.pending.set(hiveId, value);
    if (!queued) void this.serially(hiveId, () => this.flush(hiveId)).catch(() => {});
  }

  /** Writes the latest pending state of the hive, fenced by the session. */
  private async flush(hiveId: string): Promise<void> {
    if (!this.pending.has(hiveId)) return;
    const value = this.pending.get(hiveId);
    this.pending.delete(hiveId);
    const session = this.deps.session();
    if (!session || this.stopped) return; // no lease: no owner writes
    let outcome: WriteOutcome;
    this.writes[value ? "update" : "remove"]++;
    try {
      outcome = await this.write(() => (value ? session.updateHive(value) : session.removeHive(hiveId)));
    } catch (err) {
      this.retryLater(hiveId, value, err);
      return;
    }
    this.cancelRetry(hiveId);
    if (outcome.ok) {
      this.deps.state.noteHive(hiveId, value, outcome.revision);
      if (!value) this.deps.state.noteOwner(hiveId, undefined, outcome.revision);
      return;
    }
    // The fence refused: another queen holds the hive now.
    this.deps.state.noteCurrent(hiveId, outcome.currentOwner, outcome.currentHive);
    this.deps.logger.info({ hiveId, owner: outcome.currentOwner?.value }, "hive write refused by the fence: the hive moved");
    if (value) this.lose(hiveId, outcome.currentOwner?.value);
    // A removal refused: this queen dropped the hive, but it lives on at its new owner.
    this.deps.resync(hiveId);
  }

  /**
   * The store could not take the write: it is tried again with backoff while this queen still holds
   * the hive and its lease (a lease loss or shutdown cancels it); a newer state queued meanwhile
   * replaces it, so the store ends with the latest.
   */
  private retryLater(hiveId: string, value: HiveMembership | undefined, err: unknown): void {
    if (this.stopped || !this.deps.session()) return;
    if (value && !this.held.has(hiveId)) return;
    if (!this.pending.has(hiveId)) this.pending.set(hiveId, value);
    const retry = this.retries.get(hiveId) ?? { timer: undefined as unknown as NodeJS.Timeout, backoff: new Backoff(RETRY) };
    const delayMs = retry.backoff.next();
    this.deps.logger.warn({ err, hiveId, retryInMs: delayMs }, "hive membership write failed; will retry");
    clearTimeout(retry.timer);
    retry.timer = setTimeout(() => void this.serially(hiveId, () => this.flush(hiveId)).catch(() => {}), delayMs);
    retry.timer.unref();
    this.retries.set(hiveId, retry);
  }

  private cancelRetry(hiveId: string): void {
    const retry = this.retries.get(hiveId);
    if (!retry) return;
    clearTimeout(retry.timer);
    this.retries.delete(hiveId);
  }

  private cancelRetries(): void {
    for (const hiveId of [...this.retries.keys()]) this.cancelRetry(hiveId);
  }

  private async write(fn: () => Promise<WriteOutcome>): Promise<WriteOutcome> {
    try {
      return await fn();
    } catch (err) {
      throw new ClusterUnavailableError(`cluster store: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Runs fn after every earlier write of the same hive; the chain is forgotten once idle. */
  private serially<T>(hiveId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.chains.get(hiveId) ?? Promise.resolve();
    const run = before.then(fn);
    const tail = run.then(
      () => {},
      () => {},
    );
    this.chains.set(hiveId, tail);
    void tail.then(() => {
      if (this.chains.get(hiveId) === tail) this.chains.delete(hiveId);
    });
    return run;
  }
}
