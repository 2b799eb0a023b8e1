import type { HiveStatus } from "../../gen/apiary/v1/queen_pb.js";
import type { WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import type { CachedWorker, Informer } from "../client/index.js";
import { openAiBaseUrl } from "./openai-endpoint.js";
import type { ReportedLoad, RouteCandidate, WorkerSource } from "./route-candidate.js";

interface Memo {
  hive: HiveStatus | undefined;
  candidate: RouteCandidate | undefined;
}

/**
 * The router's workers from the informer's live cache: its pickable workers of a model (RUNNING,
 * on a HEALTHY hive) that have an OpenAI API to send to. The candidate made of a worker is kept
 * until the informer replaces the worker's telemetry (the next report), so a request costs a
 * lookup per worker, not a URL parse.
 */
export class InformerWorkerSource implements WorkerSource {
  private readonly memo = new WeakMap<WorkerTelemetry, Memo>();

  constructor(readonly informer: Informer) {}

  candidates(model: string): readonly RouteCandidate[] {
    const out: RouteCandidate[] = [];
    for (const w of this.informer.candidates(model)) {
      const c = this.candidate(w);
      if (c) out.push(c);
    }
    return out;
  }

  models(): string[] {
    const models = new Set<string>();
    for (const hive of this.informer.hives()) {
      for (const w of hive.workers.values()) if (!models.has(w.worker.model) && this.candidates(w.worker.model).length > 0) models.add(w.worker.model);
    }
    return [...models].sort();
  }

  private candidate(w: CachedWorker): RouteCandidate | undefined {
    const hive = w.hive.status;
    const held = this.memo.get(w.worker);
    if (held && held.hive === hive) return held.candidate;
    const baseUrl = openAiBaseUrl(w.worker, hive);
    const candidate = baseUrl === undefined ? undefined : { key: w.key, model: w.worker.model, baseUrl, load: reportedLoad(w.worker), reportMark: reportMark(w.worker) };
    this.memo.set(w.worker, { hive, candidate });
    return candidate;
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
