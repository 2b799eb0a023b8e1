import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import { HiveHealth, HiveStatusSchema, type HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import { CollectionErrorSchema, ReportScope, type CollectionError, type HiveInfo, type HiveReport, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { LivenessClock } from "../../common/clock.js";
import { EventHistory } from "./event-history.js";
import { DEFAULT_QUEEN_CONFIG } from "../queen-config.js";
import { ChangeType, HiveNotCurrentError, type HelloResult, type HiveView, type RegistryEvent, type RegistryWriter, type RemoteScope, type WorkerRejection } from "./registry.js";
import { applyRemoteHiveFields } from "./remote-hive-state.js";
import { HiveRecord, RegistryShard, shardOf } from "./registry-shard.js";
import type { SchedulingEntry } from "./scheduling-entries.js";
import { deviceListsEqual, errorsEqual, hiveInfosEqual, probesEqual } from "./telemetry-equality.js";
import { mergePartialReport } from "./partial-report.js";
import { forgetEnded, replaceWorkers, type EndedWorkerRetention } from "./worker-replacement.js";

export interface MemoryRegistryOptions {
  shards: number;
  historySize: number;
  /** How long an ended worker stays after its hive stops reporting it; default 15 min. 0 = not at all. */
  endedWorkerRetentionMs?: number;
  /** The most ended workers kept per hive (oldest removed first); default 1000. */
  maxEndedWorkersPerHive?: number;
  clock: LivenessClock;
  logger?: Logger;
  epoch?: string;
}

/** The in-memory, sharded registry cache (see {@link RegistryReadView} and {@link RegistryWriteView}). */
export class MemoryRegistry implements RegistryWriter {
  readonly epoch: string;
  readonly shardCount: number;
  private readonly shards: RegistryShard[];
  private readonly history: EventHistory;
  private readonly listeners = new Set<(event: RegistryEvent) => void>();
  private rev = 0;

  private readonly retentionMs: number;
  private readonly retention: EndedWorkerRetention;

  constructor(private readonly opts: MemoryRegistryOptions) {
    this.retentionMs = opts.endedWorkerRetentionMs ?? DEFAULT_QUEEN_CONFIG.endedWorkerRetentionMs;
    this.retention = { retentionMs: this.retentionMs, maxEndedPerHive: opts.maxEndedWorkersPerHive ?? 1000 };
    this.epoch = opts.epoch ?? randomUUID();
    this.shardCount = opts.shards;
    this.shards = Array.from({ length: opts.shards }, () => new RegistryShard());
    this.history = new EventHistory(opts.historySize);
  }

  revision(): number {
    return this.rev;
  }

  hello(info: HiveInfo, incarnation: string, ownerQueenId?: string): HelloResult {
    const id = info.hiveId;
    const shard = this.shardFor(id);
    const now = this.opts.clock.nowMs();
    const wall = this.opts.clock.wallMs();
    const existing = shard.hives.get(id);
    if (!existing) {
      const record = new HiveRecord(info, incarnation, now, wall, wall);
      record.ownerQueenId = ownerQueenId;
      shard.hives.set(id, record);
      this.emitHive(ChangeType.Added, record);
      return { revision: this.rev, added: true, newIncarnation: false };
    }
    const newIncarnation = existing.incarnation !== incarnation;
    let changed =
      newIncarnation ||
      !existing.connected ||
      existing.health !== HiveHealth.HEALTHY ||
      !hiveInfosEqual(existing.info, info) ||
      existing.remote ||
      existing.ownerQueenId !== ownerQueenId;
    existing.remote = false;
    existing.ownerQueenId = ownerQueenId;
    if (existing.health !== HiveHealth.HEALTHY) this.logHealth(existing, HiveHealth.HEALTHY, "hello");
    existing.info = info;
    if (newIncarnation) {
      // The old incarnation's workers stay until the first report of the new one replaces them.
      existing.incarnation = incarnation;
      existing.lastSeq = 0n;
      existing.connectedAtWallMs = wall;
    }
    if (existing.departure) {
      existing.departure = undefined;
      changed = true;
    }
    existing.connected = true;
    existing.health = HiveHealth.HEALTHY;
    existing.lastSeenMs = now;
    existing.lastSeenWallMs = wall;
    if (changed) this.emitHive(ChangeType.Updated, existing);
    return { revision: this.rev, added: false, newIncarnation };
  }

  applyReport(hiveId: string, incarnation: string, report: HiveReport, rejected: readonly WorkerRejection[] = []): number {
    const shard = this.shardFor(hiveId);
    const record = shard.hives.get(hiveId);
    if (!record) throw new HiveNotCurrentError(hiveId, "evicted");
    if (record.incarnation !== incarnation) throw new HiveNotCurrentError(hiveId, "superseded");
    record.lastSeenMs = this.opts.clock.nowMs();
    record.lastSeenWallMs = this.opts.clock.wallMs();
    record.lastSeq = report.seq;
    const merged = report.scope === ReportScope.PARTIAL ? mergePartialReport(record, report, rejected) : { report, rejected };

    let hiveChanged = false;
    if (record.health !== HiveHealth.HEALTHY && record.connected) {
      this.logHealth(record, HiveHealth.HEALTHY, "report");
      record.health = HiveHealth.HEALTHY;
      hiveChanged = true;
    }
    if (!merged) {
      // A partial report with nothing in it: a lease renewal.
      if (hiveChanged) this.emitHive(ChangeType.Updated, record);
      return this.rev;
    }
    ({ report, rejected } = merged);
    record.reportedErrors = report.errors;
    record.rejected = rejected;
    if (!deviceListsEqual(record.devices, report.devices)) {
      record.setDevices(report.devices);
      hiveChanged = true;
    }
    if (!probesEqual(record.gpuProbe, report.gpuProbe)) {
      record.gpuProbe = report.gpuProbe;
      hiveChanged = true;
    }
    if (record.memoryAvailableBytes !== report.memoryAvailableBytes) {
      record.memoryAvailableBytes = report.memoryAvailableBytes;
      hiveChanged = true;
    }
    this.noteRejections(record, rejected);
    const errors = rejected.length === 0 ? report.errors : [...report.errors, ...rejected.map(rejectionError)];
    if (!errorsEqual(record.errors, errors)) {
      record.errors = errors;
      hiveChanged = true;
    }
    if (hiveChanged) this.emitHive(ChangeType.Updated, record);

    const changes = replaceWorkers(shard, record, report.workers, record.lastSeenMs, this.retention);
    for (const [type, worker, previousModel] of changes) this.emitWorker(type, hiveId, worker, previousModel);
    return this.rev;
  }

  markDisconnected(hiveId: string, incarnation: string): void {
    const record = this.shardFor(hiveId).hives.get(hiveId);
    if (!record || record.remote || record.incarnation !== incarnation || !record.connected) return;
    record.connected = false;
    if (record.health === HiveHealth.HEALTHY) {
      this.logHealth(record, HiveHealth.DEGRADED, "stream broken");
      record.health = HiveHealth.DEGRADED;
    }
    this.emitHive(ChangeType.Updated, record);
  }

  depart(hiveId: string, incarnation: string, reason: string, workersLeftRunning: number): void {
    const record = this.shardFor(hiveId).hives.get(hiveId);
    if (!record || record.remote || record.incarnation !== incarnation) return;
    record.connected = false;
    record.departure = { reason, workersLeftRunning, leftAtWallMs: this.opts.clock.wallMs() };
    this.logHealth(record, HiveHealth.DOWN, `left with ${workersLeftRunning} worker(s) running`);
    record.health = HiveHealth.DOWN;
    this.emitHive(ChangeType.Updated, record);
  }

  expireEndedWorkers(shardIndex: number): void {
    const shard = this.shards[shardIndex];
    const now = this.opts.clock.nowMs();
    for (const record of shard.hives.values()) {
      if (record.carried.size === 0) continue;
      const expired = [...record.carried].filter((id) => now - record.endedSinceMs.get(id)! >= this.retentionMs);
      if (expired.length === 0) continue;
      const workers = new Map(record.workers);
      const removed: WorkerTelemetry[] = [];
      for (const workerId of expired) {
        removed.push(workers.get(workerId)!);
        workers.delete(workerId);
        forgetEnded(shard, record, workerId);
      }
      record.workers = workers;
      for (const worker of removed) this.emitWorker(ChangeType.Removed, record.hiveId, worker);
    }
  }

  setHealth(hiveId: string, health: HiveHealth): void {
    const record = this.shardFor(hiveId).hives.get(hiveId);
    if (!record || record.health === health) return;
    this.logHealth(record, health, "liveness");
    record.health = health;
    this.emitHive(ChangeType.Updated, record);
  }

  evict(hiveId: string, reason: string): boolean {
    const shard = this.shardFor(hiveId);
    const record = shard.hives.get(hiveId);
    if (!record) return false;
    const workers = record.workers;
    record.workers = new Map();
    for (const workerId of workers.keys()) shard.removeWorker(record, workerId);
    record.setDevices([]);
    shard.hives.delete(hiveId);
    for (const worker of workers.values()) this.emitWorker(ChangeType.Removed, hiveId, worker);
    this.emitHive(ChangeType.Removed, record);
    this.opts.logger?.info({ hiveId, incarnation: record.incarnation, reason, workers: workers.size }, "hive evicted");
    return true;
  }

  applyRemote(status: HiveStatus, ownerQueenId: string | undefined, scope: RemoteScope): number {
    const info = status.info;
    if (!info) throw new Error("applyRemote: the status has no info");
    const shard = this.shardFor(info.hiveId);
    let record = shard.hives.get(info.hiveId);
    const added = !record;
    if (!record) {
      const wall = this.opts.clock.wallMs();
      record = new HiveRecord(info, status.incarnation, this.opts.clock.nowMs(), wall, wall);
      shard.hives.set(info.hiveId, record);
    }
    const hiveChanged = applyRemoteHiveFields(record, status, ownerQueenId, scope);
    if (added) this.emitHive(ChangeType.Added, record);
    else if (hiveChanged) this.emitHive(ChangeType.Updated, record);
    if (scope === "full") {
      const changes = replaceWorkers(shard, record, status.workers, this.opts.clock.nowMs(), undefined);
      for (const [type, worker, previousModel] of changes) this.emitWorker(type, record.hiveId, worker, previousModel);
    }
    return this.rev;
  }

  makeRemote(hiveId: string, ownerQueenId: string | undefined): void {
    const record = this.shardFor(hiveId).hives.get(hiveId);
    if (!record || (record.remote && record.ownerQueenId === ownerQueenId)) return;
    record.remote = true;
    record.ownerQueenId = ownerQueenId;
    this.emitHive(ChangeType.Updated, record);
  }

  forgetRemote(hiveId: string, reason: string): boolean {
    if (!this.shardFor(hiveId).hives.get(hiveId)?.remote) return false;
    return this.evict(hiveId, reason);
  }

  hive(hiveId: string): HiveView | undefined {
    return this.shardFor(hiveId).hives.get(hiveId);
  }

  *hives(): Iterable<HiveView> {
    for (const shard of this.shards) yield* shard.hives.values();
  }

  hivesInShard(shard: number): Iterable<HiveView> {
    return this.shards[shard].hives.values();
  }

  *schedulingListsOfModel(model: string): Iterable<readonly SchedulingEntry[]> {
    for (const shard of this.shards) {
      const list = shard.models.byModel.get(model);
      if (list) yield list;
    }
  }

  *allSchedulingLists(): Iterable<readonly SchedulingEntry[]> {
    for (const shard of this.shards) yield* shard.models.byModel.values();
  }

  hiveCount(): number {
    let n = 0;
    for (const shard of this.shards) n += shard.hives.size;
    return n;
  }

  workerCount(): number {
    let n = 0;
    for (const shard of this.shards) n += shard.workerCount();
    return n;
  }

  /**
   * The model index of every shard, for tests that check it stays exact. Throws when an entry's
   * slot, model, hive or worker disagrees with where it is listed.
   */
  modelIndexEntries(): { model: string; hiveId: string; workerId: string }[] {
    const out: { model: string; hiveId: string; workerId: string }[] = [];
    for (const shard of this.shards) {
      for (const [model, list] of shard.models.byModel) {
        list.forEach((entry, i) => {
          const { hiveId } = entry.hive;
          const workerId = entry.worker.workerId;
          const consistent =
            entry.slot === i &&
            entry.worker.model === model &&
            shard.hives.get(hiveId) === entry.hive &&
            entry.hive.schedulingEntries.get(workerId) === entry &&
            entry.hive.workers.get(workerId) === entry.worker;
          if (!consistent) throw new Error(`scheduling index: entry ${hiveId}/${workerId} under "${model}" at ${i} is inconsistent`);
          out.push({ model, hiveId, workerId });
        });
      }
    }
    return out;
  }

  eventsSince(since: number): RegistryEvent[] | undefined {
    return this.history.since(since, this.rev);
  }

  subscribe(listener: (event: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  hiveStatus(hive: HiveView, withWorkers: boolean): HiveStatus {
    return create(HiveStatusSchema, {
      info: hive.info,
      health: hive.health,
      lastSeen: timestampFromMs(hive.lastSeenWallMs),
      devices: hive.devices as HiveStatus["devices"],
      workers: withWorkers ? [...hive.workers.values()] : [],
      incarnation: hive.incarnation,
      connectedAt: timestampFromMs(hive.connectedAtWallMs),
      gpuProbe: hive.gpuProbe,
      memoryAvailableBytes: hive.memoryAvailableBytes,
      connected: hive.connected,
      lastSeq: hive.lastSeq,
      errors: hive.errors as HiveStatus["errors"],
      departure: hive.departure && {
        reason: hive.departure.reason,
        workersLeftRunning: hive.departure.workersLeftRunning,
        leftAt: timestampFromMs(hive.departure.leftAtWallMs),
      },
      ownerQueenId: hive.ownerQueenId ?? "",
    });
  }

  private shardFor(hiveId: string): RegistryShard {
    return this.shards[shardOf(hiveId, this.shardCount)];
  }

  private emitHive(type: ChangeType, record: HiveRecord): void {
    this.publish({ revision: ++this.rev, kind: "hive", type, hiveId: record.hiveId, hive: this.hiveStatus(record, false) });
  }

  private emitWorker(type: ChangeType, hiveId: string, worker: WorkerTelemetry, previousModel?: string): void {
    this.publish({ revision: ++this.rev, kind: "worker", type, hiveId, worker, ...(previousModel === undefined ? {} : { previousModel }) });
  }

  private publish(event: RegistryEvent): void {
    this.history.append(event);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.opts.logger?.error({ err, revision: event.revision }, "registry listener failed");
      }
    }
  }

  /** Logs the worker entries left out of a hive's reports when they change, not on every report. */
  private noteRejections(record: HiveRecord, rejected: readonly WorkerRejection[]): void {
    const key = rejected.map((r) => r.message).join("\n");
    if (key === record.rejectionKey) return;
    record.rejectionKey = key;
    if (rejected.length > 0) {
      this.opts.logger?.warn({ hiveId: record.hiveId, rejected }, "worker entries left out of the hive's reports");
    } else {
      this.opts.logger?.info({ hiveId: record.hiveId }, "every worker entry of the hive's reports is valid again");
    }
  }

  private logHealth(record: HiveRecord, to: HiveHealth, cause: string): void {
    this.opts.logger?.info(
      { hiveId: record.hiveId, from: HiveHealth[record.health], to: HiveHealth[to], cause },
      "hive health changed",
    );
  }
}

/** A left-out worker entry as one of the hive's errors (source "queen"). */
function rejectionError(r: WorkerRejection): CollectionError {
  return create(CollectionErrorSchema, { source: "queen", message: `worker ${JSON.stringify(r.workerId)} left out of the report: ${r.message}` });
}
