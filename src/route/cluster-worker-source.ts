import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { HiveHealth, WatchRequestSchema, type QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { WorkerState, type WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { ClusterState } from "../cli/cluster-state.js";
import { resumingWatch } from "../cli/resuming-watch.js";
import { openAiBaseUrl } from "./openai-endpoint.js";
import type { ReportedLoad, RouteCandidate, WorkerSource } from "./route-candidate.js";

export interface ClusterWorkerSourceOptions {
  /** One client per queen, in order: the watch fails over between them. */
  queens: readonly Client<typeof QueenService>[];
  /** Also route to workers of DEGRADED hives (default: HEALTHY only). */
  includeDegraded?: boolean;
  onRetry?: (err: Error | undefined, failures: number) => void;
  /** Called after every Watch message applied (tests and metrics clean-up use it). */
  onChange?: () => void;
}

/**
 * The router's view of the cluster: one resuming Watch into a ClusterState, and a by-model index
 * of the workers that can take requests, rebuilt on the first request after a change (so a
 * request costs a map lookup, a report costs one rebuild however many requests follow).
 */
export class ClusterWorkerSource implements WorkerSource {
  readonly state = new ClusterState();
  private index = new Map<string, RouteCandidate[]>();
  private dirty = true;
  private readonly abort = new AbortController();
  readonly done: Promise<void>;
  private readonly synced: Promise<void>;
  private markSynced!: () => void;

  constructor(private readonly opts: ClusterWorkerSourceOptions) {
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
    this.done = this.run();
  }

  /** Resolves once the first snapshot is in. */
  ready(): Promise<void> {
    return this.synced;
  }

  get revision(): bigint {
    return this.state.revision;
  }

  candidates(model: string): readonly RouteCandidate[] {
    return this.current().get(model) ?? [];
  }

  models(): string[] {
    return [...this.current().keys()].sort();
  }

  /** Every candidate, by key (for the metrics' clean-up of workers that left). */
  keys(): Set<string> {
    const keys = new Set<string>();
    for (const list of this.current().values()) for (const c of list) keys.add(c.key);
    return keys;
  }

  close(): Promise<void> {
    this.abort.abort();
    return this.done;
  }

  private async run(): Promise<void> {
    const stream = resumingWatch(this.opts.queens, create(WatchRequestSchema, {}), {
      signal: this.abort.signal,
      onRetry: (err, failures) => this.opts.onRetry?.(err, failures),
    });
    for await (const res of stream) {
      if (this.state.apply(res)) this.dirty = true;
      if (this.state.synced) this.markSynced();
      this.opts.onChange?.();
    }
  }

  private current(): Map<string, RouteCandidate[]> {
    if (!this.dirty) return this.index;
    const index = new Map<string, RouteCandidate[]>();
    for (const { hiveId, worker } of this.state.workers.values()) {
      const hive = this.state.hives.get(hiveId);
      const health = hive?.health;
      if (health !== HiveHealth.HEALTHY && !(this.opts.includeDegraded && health === HiveHealth.DEGRADED)) continue;
      if (worker.state !== WorkerState.RUNNING || worker.model === "") continue;
      const baseUrl = openAiBaseUrl(worker, hive);
      if (baseUrl === undefined) continue;
      const candidate: RouteCandidate = { key: `${hiveId}/${worker.workerId}`, model: worker.model, baseUrl, load: reportedLoad(worker), reportMark: reportMark(worker) };
      const list = index.get(worker.model);
      if (list) list.push(candidate);
      else index.set(worker.model, [candidate]);
    }
    this.index = index;
    this.dirty = false;
    return index;
  }
}

/** A stale reading (the last scrape failed) is no reading: the load is unknown. */
function reportedLoad(worker: WorkerTelemetry): ReportedLoad {
  const e = worker.engineLoad;
  if (!e || e.stale) return {};
  return { waiting: e.requestsWaiting, running: e.requestsRunning, kvCacheUsageRatio: e.kvCacheUsageRatio };
}

function reportMark(worker: WorkerTelemetry): string {
  const at = worker.engineLoad?.sampledAt;
  return at ? `${at.seconds}.${at.nanos}` : "";
}
