import type { HiveHealth, HiveStatus } from "../../gen/apiary/v1/queen_pb.js";
import type { CollectionError, GpuDevice, GpuProbeStatus, HiveInfo, HiveReport, WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";

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
    };

/** Read-only view of one hive. Objects reachable from it are never mutated (reports replace them). */
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
  readonly gpuProbe: GpuProbeStatus | undefined;
  readonly memoryAvailableBytes: bigint | undefined;
  readonly errors: readonly CollectionError[];
}

export interface HelloResult {
  revision: number;
  /** The hive was unknown. */
  added: boolean;
  /** The hive was known under another incarnation. */
  newIncarnation: boolean;
}

/**
 * The queen's state of the cluster. The in-memory sharded backend implements it today; an etcd
 * backend (leases for liveness, etcd revisions as watch revisions) can implement it later.
 * Every observable change gets the next revision and is delivered to listeners synchronously.
 */
export interface Registry {
  /** Identifies this registry's revision space (a fresh random value per queen process). */
  readonly epoch: string;
  readonly shardCount: number;
  /** Revision of the latest change (0 before any). */
  revision(): number;

  /** A hive said hello: adds it, or refreshes it; a new incarnation resets its report sequence. */
  hello(info: HiveInfo, incarnation: string): HelloResult;
  /** Applies a validated full report of the hive's current incarnation; returns the revision after it. */
  applyReport(hiveId: string, incarnation: string, report: HiveReport): number;
  /** The hive's stream ended without goodbye: connected=false, DEGRADED at once. No-op for another incarnation. */
  markDisconnected(hiveId: string, incarnation: string): void;
  /** Sets a hive's health (liveness sweep). No-op when unchanged. */
  setHealth(hiveId: string, health: HiveHealth): void;
  /** Forgets a hive: REMOVED for each worker, then for the hive. Returns false when unknown. */
  evict(hiveId: string, reason: string): boolean;

  hive(hiveId: string): HiveView | undefined;
  /** Every hive, shard by shard (unordered). */
  hives(): Iterable<HiveView>;
  hivesInShard(shard: number): Iterable<HiveView>;
  /** Hives that have at least one worker serving the model, with those workers' ids. */
  workersOfModel(model: string): Iterable<{ hive: HiveView; workerIds: ReadonlySet<string> }>;
  /** Ids of the hive's workers serving the model (from the model index). */
  workerIdsOfModel(hiveId: string, model: string): ReadonlySet<string> | undefined;
  hiveCount(): number;
  workerCount(): number;

  /** Retained events with revision > since, oldest first; undefined when some of them are no longer retained. */
  eventsSince(since: number): RegistryEvent[] | undefined;
  /** Calls listener synchronously for every change; returns the unsubscribe function. */
  subscribe(listener: (event: RegistryEvent) => void): () => void;
  /** The hive-event payload: the hive's status without workers. */
  hiveStatus(hive: HiveView, withWorkers: boolean): HiveStatus;
}
