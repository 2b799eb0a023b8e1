import { clone, equals } from "@bufbuild/protobuf";
import { EventType, HiveStatusSchema, WatchKind, type HiveStatus, type WatchResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { WorkerTelemetrySchema, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";

/** What a watcher asked for (the WatchRequest filters). */
export interface WatchFilter {
  hiveIds?: string[];
  model?: string;
  kinds?: WatchKind[];
}

/** One event of a WatchResponse, whether sent alone or in a batch. */
export interface WatchedEvent {
  type: EventType;
  hive?: HiveStatus;
  hiveId: string;
  worker?: WorkerTelemetry;
}

/** The events a WatchResponse carries (none for bookmarks and snapshot_end). */
export function eventsOf(m: WatchResponse): WatchedEvent[] {
  switch (m.kind.case) {
    case "hive":
      return [{ type: m.kind.value.type, hive: m.kind.value.hive, hiveId: m.kind.value.hive!.info!.hiveId }];
    case "worker":
      return [{ type: m.kind.value.type, hiveId: m.kind.value.hiveId, worker: m.kind.value.worker }];
    case "batch":
      if (m.kind.value.events.length === 0) throw new Error("empty batch");
      return m.kind.value.events.map((e) => {
        if (e.kind.case === "hive") return { type: e.kind.value.type, hive: e.kind.value.hive, hiveId: e.kind.value.hive!.info!.hiveId };
        if (e.kind.case === "worker") return { type: e.kind.value.type, hiveId: e.kind.value.hiveId, worker: e.kind.value.worker };
        throw new Error("batch event without a kind");
      });
    default:
      return [];
  }
}

/** A hive event's payload compared without what changes with no event (last_seen, last_seq). */
export function comparableHive(hive: HiveStatus): HiveStatus {
  const h = clone(HiveStatusSchema, hive);
  h.lastSeen = undefined;
  h.lastSeq = 0n;
  h.workers = [];
  return h;
}

/**
 * A Watch client's view, rebuilt from the messages it received, across resumes. Throws on any
 * broken promise: a revision lower than one already received on the stream, an UPDATED for an
 * object the client does not have, or a resumed stream starting before its resume point.
 */
export class WatchedState {
  hives = new Map<string, HiveStatus>();
  workers = new Map<string, WorkerTelemetry>();
  /** Where to resume from: the last revision received outside a snapshot (or a snapshot_end). */
  resumeAt = 0n;
  epoch = "";
  received = 0;
  private streamRevision = -1n;
  private snapshot: { hives: Map<string, HiveStatus>; workers: Map<string, WorkerTelemetry> } | undefined;

  /** A new stream starts (after a resume or a fresh start). */
  startStream(): void {
    this.streamRevision = -1n;
    this.snapshot = undefined;
  }

  apply(m: WatchResponse): void {
    this.received++;
    if (m.revision < this.streamRevision) throw new Error(`revision went back from ${this.streamRevision} to ${m.revision} (${m.kind.case})`);
    if (this.streamRevision < 0n && !m.snapshot && m.epoch === this.epoch && m.revision < this.resumeAt) {
      throw new Error(`resumed stream from ${this.resumeAt} starts at ${m.revision}`);
    }
    this.streamRevision = m.revision;
    this.epoch = m.epoch;
    if (m.snapshot && m.kind.case !== "snapshotEnd") {
      this.snapshot ??= { hives: new Map(), workers: new Map() };
      for (const e of eventsOf(m)) this.applyEvent(e, this.snapshot.hives, this.snapshot.workers, true);
      return;
    }
    if (m.kind.case === "snapshotEnd") {
      this.hives = this.snapshot?.hives ?? new Map();
      this.workers = this.snapshot?.workers ?? new Map();
      this.snapshot = undefined;
    } else {
      for (const e of eventsOf(m)) this.applyEvent(e, this.hives, this.workers, false);
    }
    this.resumeAt = m.revision;
  }

  private applyEvent(e: WatchedEvent, hives: Map<string, HiveStatus>, workers: Map<string, WorkerTelemetry>, inSnapshot: boolean): void {
    if (inSnapshot && e.type !== EventType.ADDED) throw new Error(`snapshot event ${EventType[e.type]}`);
    const key = e.hive ? e.hiveId : `${e.hiveId}/${e.worker!.workerId}`;
    const map = (e.hive ? hives : workers) as Map<string, unknown>;
    if (e.type === EventType.UPDATED && !map.has(key)) throw new Error(`UPDATED for ${e.hive ? "hive" : "worker"} ${key}, never sent ADDED`);
    if (e.type === EventType.REMOVED) map.delete(key);
    else map.set(key, e.hive ?? e.worker);
  }
}

/** What a watcher with `filter` must end up with, from ListHives (with workers). */
export function expectedState(hives: readonly HiveStatus[], filter: WatchFilter): { hives: Map<string, HiveStatus>; workers: Map<string, WorkerTelemetry> } {
  const kinds = filter.kinds ?? [];
  const wantHives = kinds.length === 0 || kinds.includes(WatchKind.HIVE);
  const wantWorkers = kinds.length === 0 || kinds.includes(WatchKind.WORKER);
  const out = { hives: new Map<string, HiveStatus>(), workers: new Map<string, WorkerTelemetry>() };
  for (const hive of hives) {
    const id = hive.info!.hiveId;
    if (filter.hiveIds?.length && !filter.hiveIds.includes(id)) continue;
    if (wantHives) out.hives.set(id, hive);
    if (!wantWorkers) continue;
    for (const w of hive.workers) if (!filter.model || w.model === filter.model) out.workers.set(`${id}/${w.workerId}`, w);
  }
  return out;
}

/** Differences between a watcher's view and the expected one (empty when equal). */
export function stateDifferences(
  got: { hives: Map<string, HiveStatus>; workers: Map<string, WorkerTelemetry> },
  want: { hives: Map<string, HiveStatus>; workers: Map<string, WorkerTelemetry> },
): string[] {
  const out: string[] = [];
  for (const [id, h] of want.hives) {
    const g = got.hives.get(id);
    if (!g) out.push(`missing hive ${id}`);
    else if (!equals(HiveStatusSchema, comparableHive(g), comparableHive(h))) out.push(`hive ${id} differs`);
  }
  for (const id of got.hives.keys()) if (!want.hives.has(id)) out.push(`extra hive ${id}`);
  for (const [key, w] of want.workers) {
    const g = got.workers.get(key);
    if (!g) out.push(`missing worker ${key}`);
    else if (!equals(WorkerTelemetrySchema, g, w)) out.push(`worker ${key} differs`);
  }
  for (const key of got.workers.keys()) if (!want.workers.has(key)) out.push(`extra worker ${key}`);
  return out;
}
