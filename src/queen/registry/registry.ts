import type { HiveHealth, HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import type { SchedulingEntry } from "./scheduling-entries.js";
import type { CollectionError, GpuDevice, GpuProbeStatus, HiveInfo, HiveReport, WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";

/** Observable change kinds; the numbers match apiary.v1.EventType. */
export enum ChangeType {
  Added = 1,
  Updated = 2,
  Removed = 3,
}

/** One observable change of the registry, with the revision it got. */
export type RegistryEvent =
  | { readonly revision: number; readonly kind: "hive"; readonly type: ChangeType; readonly hiveId: string; readonly hive: HiveStatus }
  | {
      readonly revision: number;
      readonly kind: "worker";
      readonly type: ChangeType;
      readonly hiveId: string;
      readonly worker: WorkerTelemetry;
      /** On an UPDATED that changed the worker's model: the model before (model-filtered watchers need it). */
      readonly previousModel?: string;
    };

/**
 * Read-only view of one hive. Objects reachable from it are never mutated (reports replace them),
 * except its scheduling entries, which the registry updates in place.
 */
export interface HiveView {
  readonly hiveId: string;
  readonly info: HiveInfo;
  readonly incarnation: string;
  readonly health: HiveHealth;
  /** True while a Heartbeat stream of the current incarnation is open. */
  readonly connected: boolean;
  /** Last report (or hello) on the liveness clock. */
  readonly lastSeenMs: number;
  readonly lastSeenWallMs: number;
  readonly connectedAtWallMs: number;
  readonly lastSeq: bigint;
  readonly devices: readonly GpuDevice[];
  readonly devicesByUuid: ReadonlyMap<string, GpuDevice>;
  readonly workers: ReadonlyMap<string, WorkerTelemetry>;
  /** The scheduling entry of each worker (same keys as `workers`). */
  readonly schedulingEntries: ReadonlyMap<string, SchedulingEntry>;
  readonly gpuProbe: GpuProbeStatus | undefined;
  readonly memoryAvailableBytes: bigint | undefined;
  readonly errors: readonly CollectionError[];
  /** Set while the hive is away after a goodbye that left workers running. */
  readonly departure: HiveDepartureView | undefined;
  /** Ended workers kept by the queen for its retention although the hive no longer reports them. */
  readonly carried: ReadonlySet<string>;
  /**
   * Held by another queen of the cluster (or by none, while orphaned): its state comes from that
   * queen and the cluster store, and this queen's liveness sweeper never judges it.
   */
  readonly remote: boolean;
  /** The queen holding the hive's stream, when queens share a cluster store (HiveStatus.owner_queen_id). */
  readonly ownerQueenId: string | undefined;
}

export interface HiveDepartureView {
  readonly reason: string;
  readonly workersLeftRunning: number;
  readonly leftAtWallMs: number;
}

/** A report for a hive the registry no longer holds under that incarnation. */
export class HiveNotCurrentError extends Error {
  constructor(
    readonly hiveId: string,
    /** "evicted": the hive is gone; "superseded": another incarnation said hello since. */
    readonly why: "evicted" | "superseded",
  ) {
    super(
      why === "evicted"
        ? `hive ${hiveId} was evicted while its stream was open; say hello again on a new stream`
        : `hive ${hiveId} has a newer incarnation; this stream's reports no longer apply`,
    );
    this.name = "HiveNotCurrentError";
  }
}

/** A worker entry the queen left out of a report, with the rule it broke (naming the field). */
export interface WorkerRejection {
  workerId: string;
  message: string;
}

export interface HelloResult {
  revision: number;
  /** The hive was unknown. */
  added: boolean;
  /** The hive was known under another incarnation. */
  newIncarnation: boolean;
}

/** What applyRemote takes from a remote hive's status. */
export type RemoteScope =
  /** Identity, incarnation, health, connected, departure: what the cluster store holds. */
  | "membership"
  /** Everything, workers included: the owner's telemetry as it sees the hive. */
  | "full";

/**
 * The read view of the queen's registry cache: what it knows of the cluster, read synchronously
 * (FindWorkers, FindDevices, GetHive, ListHives, Watch, metrics, the peer publisher). The hives
 * whose Heartbeat streams this queen holds are fed by their reports ("local" hives, judged by this
 * queen's liveness sweeper). With several queens on a cluster store, hives held by other queens
 * are "remote": fed from the store's watch (membership) and from their owner's telemetry stream
 * (applyRemote), never judged here. The revision counter is this queen process's own (its epoch):
 * every observable change gets the next revision and is delivered to listeners synchronously,
 * whether it came from a report or from another queen.
 *
 * Split as etcd's mvcc splits ReadView/WriteView: readers get this interface, the few writers
 * (Heartbeat, the liveness sweeper, the cluster node) a {@link RegistryWriter}.
 */
export interface RegistryReadView {
  /** Identifies this registry's revision space (a fresh random value per queen process). */
  readonly epoch: string;
  readonly shardCount: number;
  /** Revision of the latest change (0 before any). */
  revision(): number;

  hive(hiveId: string): HiveView | undefined;
  /** Every hive, shard by shard (unordered). */
  hives(): Iterable<HiveView>;
  hivesInShard(shard: number): Iterable<HiveView>;
  /**
   * The scheduling entries of the workers serving the model, as flat lists (one or more per shard),
   * so FindWorkers never scans workers it cannot return. The lists are live: read them at once.
   */
  schedulingListsOfModel(model: string): Iterable<readonly SchedulingEntry[]>;
  /** Every worker's scheduling entry, as flat lists (live, like {@link schedulingListsOfModel}). */
  allSchedulingLists(): Iterable<readonly SchedulingEntry[]>;
  hiveCount(): number;
  workerCount(): number;

  /** Retained events with revision > since, oldest first; undefined when some of them are no longer retained. */
  eventsSince(since: number): RegistryEvent[] | undefined;
  /** Calls listener synchronously for every change; returns the unsubscribe function. */
  subscribe(listener: (event: RegistryEvent) => void): () => void;
  /** The hive-event payload: the hive's status without workers. */
  hiveStatus(hive: HiveView, withWorkers: boolean): HiveStatus;
}

/** The changes a registry accepts; each gives the events its readers see. */
export interface RegistryWriteView {
  /**
   * A hive said hello: adds it, or refreshes it; a new incarnation resets its report sequence.
   * The hive is local from now on, held by ownerQueenId (undefined for a single queen).
   */
  hello(info: HiveInfo, incarnation: string, ownerQueenId?: string): HelloResult;
  /**
   * Applies a validated full report of the hive's current incarnation; returns the revision after
   * it. `rejected` are the worker entries left out of it, shown in the hive's errors. Throws
   * HiveNotCurrentError when the hive was evicted or has another incarnation.
   */
  applyReport(hiveId: string, incarnation: string, report: HiveReport, rejected?: readonly WorkerRejection[]): number;
  /** The hive's stream ended without goodbye: connected=false, DEGRADED at once. No-op for another incarnation. */
  markDisconnected(hiveId: string, incarnation: string): void;
  /**
   * A goodbye that left workers running: the hive stays listed, DOWN (nothing measures its
   * workers), with a departure, until it says hello again or the sweeper evicts it.
   */
  depart(hiveId: string, incarnation: string, reason: string, workersLeftRunning: number): void;
  /** Removes (REMOVED) the ended workers of a shard's hives kept past the retention. */
  expireEndedWorkers(shard: number): void;
  /** Sets a hive's health (liveness sweep). No-op when unchanged. */
  setHealth(hiveId: string, health: HiveHealth): void;
  /** Forgets a hive: REMOVED for each worker, then for the hive. Returns false when unknown. */
  evict(hiveId: string, reason: string): boolean;

  /**
   * Applies a remote hive's state as its owner (or the cluster store) sees it, with the same
   * ADDED / UPDATED / REMOVED events a report would give; "full" replaces its devices, probe,
   * errors and workers (ended workers exactly as the owner keeps them). The hive becomes remote.
   * Returns the revision after it.
   */
  applyRemote(status: HiveStatus, ownerQueenId: string | undefined, scope: RemoteScope): number;
  /** The hive is now held by another queen (or none): it becomes remote, UPDATED when the owner changed. */
  makeRemote(hiveId: string, ownerQueenId: string | undefined): void;
  /** Forgets a remote hive (its record left the cluster store); false when unknown or local. */
  forgetRemote(hiveId: string, reason: string): boolean;
}

/** A writer reads what it writes (as etcd's TxnWrite embeds TxnRead). */
export interface RegistryWriter extends RegistryReadView, RegistryWriteView {}
