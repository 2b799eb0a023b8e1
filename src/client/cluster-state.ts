import { EventType, type HiveStatus, type WatchResponse } from "../../gen/apiary/v1/queen_pb.js";
import type { WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";

export interface WorkerEntry {
  hiveId: string;
  worker: WorkerTelemetry;
}

/**
 * The cluster as a Watch client sees it. Snapshot events build a new state that
 * replaces the current one when snapshot_end arrives, so a resumed or restarted
 * watch never shows objects the queen has forgotten.
 */
export class ClusterState {
  hives = new Map<string, HiveStatus>();
  workers = new Map<string, WorkerEntry>();
  revision = 0n;
  epoch = "";
  synced = false;
  private pending?: { hives: Map<string, HiveStatus>; workers: Map<string, WorkerEntry> };

  /** Applies one Watch message; returns true when what a viewer shows may have changed. */
  apply(res: WatchResponse): boolean {
    this.epoch = res.epoch;
    if (res.snapshot && res.kind.case !== "snapshotEnd") {
      this.pending ??= { hives: new Map(), workers: new Map() };
      this.applyEvent(res, this.pending.hives, this.pending.workers);
      return false;
    }
    if (res.kind.case === "snapshotEnd") {
      const next = this.pending ?? { hives: new Map(), workers: new Map() };
      this.hives = next.hives;
      this.workers = next.workers;
      this.pending = undefined;
      this.synced = true;
      this.revision = res.revision;
      return true;
    }
    this.revision = res.revision;
    return this.applyEvent(res, this.hives, this.workers);
  }

  private applyEvent(res: WatchResponse, hives: Map<string, HiveStatus>, workers: Map<string, WorkerEntry>): boolean {
    if (res.kind.case === "hive") {
      const { type, hive } = res.kind.value;
      const id = hive?.info?.hiveId ?? "";
      if (type === EventType.REMOVED) {
        hives.delete(id);
        for (const [key, w] of workers) if (w.hiveId === id) workers.delete(key);
      } else if (hive) {
        hives.set(id, hive);
      }
      return true;
    }
    if (res.kind.case === "worker") {
      const { type, hiveId, worker } = res.kind.value;
      const key = `${hiveId}/${worker?.workerId ?? ""}`;
      if (type === EventType.REMOVED) workers.delete(key);
      else if (worker) workers.set(key, { hiveId, worker });
      return true;
    }
    return false;
  }
}
