import type { Transport } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import type { HiveInfo } from "../../../gen/apiary/v1/telemetry_pb.js";
import { ServingStatus, type HealthStatus } from "../../rpc/health.js";
import { awaitWithin } from "../../common/wait.js";
import type { Clock } from "../../common/clock.js";
import type { HiveClaims } from "../registry/hive-claims.js";
import type { HiveSessions } from "../ingest/hive-sessions.js";
import type { ClusterMetricsSource } from "../metrics/cluster-metrics.js";
import type { RegistryWriter } from "../registry/registry.js";
import type { ClusterStore, QueenMember, QueenSession } from "./cluster-store.js";
import { HiveOwnership } from "./hive-ownership.js";
import { statusOfMembership } from "./membership.js";
import { OrphanJudge } from "./orphan-judge.js";
import type { PeerPublisher } from "./peer-publisher.js";
import { PeerSet } from "./peer-set.js";
import { QueenLease } from "./queen-lease.js";
import { StoreMirror } from "./store-mirror.js";
import { StoreState } from "./store-state.js";

/** The grpc.health.v1 service name that tells whether this queen can take hives. */
export const CLUSTER_HEALTH_SERVICE = "apiary.v1.ClusterStore";
const CLOSE_STEP_MS = 3_000;

export interface ClusterNodeOptions {
  store: ClusterStore;
  queenId: string;
  registry: RegistryWriter;
  sessions: HiveSessions;
  clock: Clock;
  logger: Logger;
  /** Lease TTL; default 10 s. */
  leaseTtlMs: number;
  /** Orphans: DOWN after this (QueenConfig.degradedMs), evicted evictAfterMs later. */
  degradedMs: number;
  evictAfterMs: number;
  /** How often orphans are judged (QueenConfig.sweepIntervalMs). */
  sweepIntervalMs: number;
  /** Client transport to another queen (its advertise URL), with this queen's client credentials. */
  peerTransport(url: string): Transport;
  /** The flush interval this queen asks of the queens it follows. */
  peerFlushIntervalMs: number;
  /** Serves FollowHeldHives to the other queens (their pending hives). */
  peerPublisher: PeerPublisher;
}

/**
 * One queen's part in a cluster of queens sharing a cluster store: its lease, the hives it holds
 * (claims on hello, transitions written through, fenced), the remote hives in its registry cache
 * (from the store's list and watch), and orphan judging. Attached only when a store is configured.
 */
export class ClusterNode implements HiveClaims, ClusterMetricsSource {
  readonly queenId: string;
  readonly state = new StoreState();
  readonly ownership: HiveOwnership;
  readonly orphans: OrphanJudge;
  readonly peers: PeerSet;
  readonly peerPublisher: PeerPublisher;
  private readonly lease: QueenLease;
  private readonly mirror: StoreMirror;
  private health: HealthStatus | undefined;
  private up = false;
  private closed = false;

  constructor(private readonly opts: ClusterNodeOptions, member: Omit<QueenMember, "queenId">) {
    this.queenId = opts.queenId;
    this.peerPublisher = opts.peerPublisher;
    const { store, registry, logger } = opts;
    this.ownership = new HiveOwnership({
      queenId: opts.queenId,
      registry,
      sessions: opts.sessions,
      state: this.state,
      clock: opts.clock,
      logger,
      session: () => this.lease.session,
      noSessionReason: () => this.lease.reason,
      resync: (hiveId) => this.sync(hiveId),
    });
    this.lease = new QueenLease({
      store,
      member: { ...member, queenId: opts.queenId },
      ttlMs: opts.leaseTtlMs,
      logger,
      onOpen: () => this.refreshUp(),
      onLost: () => {
        this.ownership.dropAll("lost its cluster lease");
        this.refreshUp();
      },
    });
    this.peers = new PeerSet({
      selfId: opts.queenId,
      transport: opts.peerTransport,
      flushIntervalMs: opts.peerFlushIntervalMs,
      logger,
      onHive: (peerId, hiveId, status) => {
        if (status && this.state.owners.get(hiveId)?.value === peerId) this.applyTelemetry(hiveId, peerId, status);
      },
    });
    this.orphans = new OrphanJudge({
      store,
      state: this.state,
      clock: opts.clock,
      logger,
      downAfterMs: opts.degradedMs,
      evictAfterMs: opts.evictAfterMs,
      checkEveryMs: opts.sweepIntervalMs,
      judging: () => this.mirror.watching,
    });
    this.mirror = new StoreMirror({
      store,
      state: this.state,
      logger,
      onTouched: (hiveIds, queenIds) => {
        for (const hiveId of hiveIds) this.sync(hiveId);
        if ([...queenIds].length > 0) this.peers.update(new Map([...this.state.queens].map(([id, q]) => [id, q.value])));
      },
      onWatching: () => this.refreshUp(),
    });
  }

  /** The open session (its writes are fenced), or undefined while the lease is lost. */
  get session(): QueenSession | undefined {
    return this.lease.session;
  }

  /** True while this queen has a lease and watches the store: it can take hives. */
  get isUp(): boolean {
    return this.up;
  }

  heldCount(): number {
    return this.ownership.heldCount();
  }

  orphanCount(): number {
    return this.orphans.count();
  }

  livePeerCount(): number {
    return this.peers.livePeers().length;
  }

  writeCounts(): Readonly<Record<string, number>> {
    return { ...this.ownership.writes, orphan: this.orphans.writes };
  }

  /** Opens the session and lists the store (first tries); later tries go on in the background. */
  async start(health: HealthStatus): Promise<void> {
    this.health = health;
    health.setStatus(CLUSTER_HEALTH_SERVICE, ServingStatus.NOT_SERVING);
    this.ownership.start();
    await Promise.all([this.mirror.start(), this.lease.start()]);
    this.orphans.start();
    this.refreshUp();
  }

  claim(info: HiveInfo, incarnation: string): Promise<void> {
    return this.ownership.claim(info, incarnation);
  }

  /** Brings one hive of the cache in line with the store (unless this queen holds it). */
  private sync(hiveId: string): void {
    const { registry } = this.opts;
    const owner = this.state.owners.get(hiveId)?.value;
    const record = this.state.hives.get(hiveId)?.value;
    this.orphans.note(hiveId);
    if (this.ownership.isClaiming(hiveId)) return;
    if (this.ownership.holds(hiveId)) {
      if (owner === undefined || owner === this.queenId) return;
      this.ownership.lose(hiveId, owner);
    }
    if (!record) {
      registry.forgetRemote(hiveId, "its record left the cluster store");
      return;
    }
    const before = registry.hive(hiveId);
    registry.applyRemote(statusOfMembership(record), owner, "membership");
    // A new owner: show what it says of the hive (its stream may have come before the owner key).
    if (owner && (before?.ownerQueenId !== owner || before.remote === false)) {
      const telemetry = this.peers.statusFrom(owner, hiveId);
      if (telemetry) this.applyTelemetry(hiveId, owner, telemetry);
    }
  }

  /** A remote hive's telemetry from the mirror of its current owner. */
  private applyTelemetry(hiveId: string, ownerQueenId: string, status: HiveStatus): void {
    if (ownerQueenId === this.queenId || this.ownership.holds(hiveId) || this.ownership.isClaiming(hiveId)) return;
    this.opts.registry.applyRemote(status, ownerQueenId, "full");
  }

  private refreshUp(): void {
    const up = !this.closed && this.lease.session !== undefined && this.mirror.watching;
    if (up === this.up) return;
    this.up = up;
    this.health?.setStatus(CLUSTER_HEALTH_SERVICE, up ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    if (up) this.opts.logger.info({ queenId: this.queenId }, "cluster store up");
    else this.opts.logger.warn({ queenId: this.queenId, reason: this.lease.reason }, "cluster store down");
  }

  /**
   * Stops every loop and revokes the lease (this queen's owner keys go at once). Writes in flight
   * and the revoke get CLOSE_STEP_MS each: with the store unreachable the lease expires by itself.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.orphans.stop();
    await this.peers.close();
    const bounded = async (what: string, step: Promise<void>): Promise<void> => {
      const outcome = await awaitWithin(step.catch((err: unknown) => this.opts.logger.warn({ err }, `cluster ${what} failed`)), CLOSE_STEP_MS);
      if (!outcome.settled) this.opts.logger.warn({ ms: CLOSE_STEP_MS }, `cluster ${what} did not finish in time; going on`);
    };
    await bounded("writes on close", this.ownership.stop());
    await bounded("store watch close", this.mirror.close());
    await bounded("lease revoke", this.lease.close());
    this.refreshUp();
  }
}
