import { EventType, type HiveStatus, type WatchResponse } from "../../gen/apiary/v1/queen_pb.js";
import type { WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";

/** One point of a worker's recent history, for its sparklines. */
export interface HistoryPoint {
  atMs: number;
  cpuPct?: number;
  gpuPct?: number;
  rssBytes?: number;
}

export interface WorkerRow {
  hiveId: string;
  worker: WorkerTelemetry;
}

/** How long a worker's history is kept in the page. */
export const HISTORY_MS = 5 * 60_000;

export function workerKey(hiveId: string, workerId: string): string {
  return `${hiveId}\u0000${workerId}`;
}

/**
 * What the page knows, built from the Watch stream: a snapshot replaces everything once its
 * snapshot_end arrives (a restarted queen or a too-old revision sends one); live events apply
 * one by one. Each worker event adds a point to the worker's history (kept HISTORY_MS).
 */
export class DashboardState {
  hives = new Map<string, HiveStatus>();
  workers = new Map<string, WorkerRow>();
  readonly history = new Map<string, HistoryPoint[]>();
  revision = 0n;
  epoch = "";
  /** Snapshots completed (1 after the first load; more after a queen restart). */
  snapshots = 0;
  private pending: { hives: Map<string, HiveStatus>; workers: Map<string, WorkerRow> } | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  apply(res: WatchResponse): void {
    const kind = res.kind;
    const target = res.snapshot ? (this.pending ??= { hives: new Map(), workers: new Map() }) : this;
    switch (kind.case) {
      case "hive": {
        const hive = kind.value.hive;
        const id = hive?.info?.hiveId;
        if (!hive || !id) break;
        if (kind.value.type === EventType.REMOVED) target.hives.delete(id);
        else target.hives.set(id, hive);
        break;
      }
      case "worker": {
        const { hiveId, worker } = kind.value;
        if (!worker) break;
        const key = workerKey(hiveId, worker.workerId);
        if (kind.value.type === EventType.REMOVED) {
          target.workers.delete(key);
          this.history.delete(key);
        } else {
          target.workers.set(key, { hiveId, worker });
          this.record(key, worker);
        }
        break;
      }
      case "snapshotEnd": {
        const next = this.pending ?? { hives: new Map(), workers: new Map() };
        this.pending = undefined;
        this.hives = next.hives;
        this.workers = next.workers;
        for (const key of this.history.keys()) if (!this.workers.has(key)) this.history.delete(key);
        this.snapshots++;
        break;
      }
      default:
        break;
    }
    if (!res.snapshot || kind.case === "snapshotEnd") {
      this.revision = res.revision;
      this.epoch = res.epoch;
    }
  }

  /** Newer last-seen times and health from a ListHives poll (hive events only come on changes). */
  refreshHives(hives: readonly HiveStatus[]): void {
    for (const fresh of hives) {
      const id = fresh.info?.hiveId;
      const known = id ? this.hives.get(id) : undefined;
      if (known && id) this.hives.set(id, { ...known, lastSeen: fresh.lastSeen, health: fresh.health, connected: fresh.connected });
    }
  }

  private record(key: string, w: WorkerTelemetry): void {
    const atMs = this.now();
    let points = this.history.get(key);
    if (!points) this.history.set(key, (points = []));
    points.push({ atMs, cpuPct: w.cpuPct, gpuPct: w.gpuUtilizationPct, rssBytes: w.memoryRssBytes === undefined ? undefined : Number(w.memoryRssBytes) });
    const cutoff = atMs - HISTORY_MS;
    let drop = 0;
    while (drop < points.length && points[drop].atMs < cutoff) drop++;
    if (drop > 0) points.splice(0, drop);
  }
}
