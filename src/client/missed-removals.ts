import { create } from "@bufbuild/protobuf";
import { EventType, WatchResponseSchema, type HiveStatus, type WatchResponse } from "../../gen/apiary/v1/queen_pb.js";
import type { WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";

/**
 * What a Watch client was last told about each hive and worker, so that a later snapshot (a resume
 * on another queen, with another epoch, or after a revision the queen no longer retains) can be
 * turned into the REMOVED events the client missed while it was away: every object it knew that
 * the snapshot no longer contains. Bounded by the objects the watch's filters let through.
 */
export class MissedRemovals {
  private readonly hives = new Map<string, HiveStatus>();
  private readonly workers = new Map<string, { hiveId: string; worker: WorkerTelemetry }>();
  /** Keys seen in the snapshot under way, if one is. */
  private snapshot: Set<string> | undefined;

  /** A stream (re)opened: a snapshot on it starts afresh. */
  streamStarted(): void {
    this.snapshot = undefined;
  }

  /**
   * Takes one (unbatched) Watch message. At a snapshot_end returns the REMOVED events of the
   * objects the snapshot left out — workers first, then hives — to be delivered before it, with the
   * snapshot_end's revision and epoch; otherwise an empty list.
   */
  observe(res: WatchResponse): WatchResponse[] {
    if (res.kind.case === "snapshotEnd") return this.endSnapshot(res);
    if (res.snapshot) this.snapshot ??= new Set();
    if (res.kind.case === "hive") {
      const { type, hive } = res.kind.value;
      const id = hive?.info?.hiveId ?? "";
      this.snapshot?.add(hiveKey(id));
      if (type === EventType.REMOVED) this.hives.delete(id);
      else if (hive) this.hives.set(id, hive);
    } else if (res.kind.case === "worker") {
      const { type, hiveId, worker } = res.kind.value;
      const key = workerKey(hiveId, worker?.workerId ?? "");
      this.snapshot?.add(key);
      if (type === EventType.REMOVED) this.workers.delete(key);
      else if (worker) this.workers.set(key, { hiveId, worker });
    }
    return [];
  }

  private endSnapshot(end: WatchResponse): WatchResponse[] {
    const seen = this.snapshot ?? new Set<string>();
    this.snapshot = undefined;
    const removed: WatchResponse[] = [];
    const stamp = { revision: end.revision, epoch: end.epoch, snapshot: true };
    for (const [key, { hiveId, worker }] of this.workers) {
      if (seen.has(key)) continue;
      this.workers.delete(key);
      removed.push(create(WatchResponseSchema, { ...stamp, kind: { case: "worker", value: { type: EventType.REMOVED, hiveId, worker } } }));
    }
    for (const [id, hive] of this.hives) {
      if (seen.has(hiveKey(id))) continue;
      this.hives.delete(id);
      removed.push(create(WatchResponseSchema, { ...stamp, kind: { case: "hive", value: { type: EventType.REMOVED, hive } } }));
    }
    return removed;
  }
}

const hiveKey = (id: string) => `h\u0000${id}`;
const workerKey = (hiveId: string, workerId: string) => `w\u0000${hiveId}\u0000${workerId}`;
