/** The engine load of a worker as last reported; unset values are unknown (never 0). */
export interface ReportedLoad {
  waiting?: number;
  running?: number;
  kvCacheUsageRatio?: number;
}

/** A worker the router may send a request to. */
export interface RouteCandidate {
  /** `hive_id/worker_id`: unique in the cluster, the `worker` label of the router's metrics. */
  key: string;
  model: string;
  /** Where its OpenAI-compatible API is, without the /v1: "http://10.0.0.7:8000". */
  baseUrl: string;
  load: ReportedLoad;
  /**
   * Changes with every new reading of the engine's load (its sampled_at): requests the router
   * sent before it are in the reading, those sent after are not yet.
   */
  reportMark: string;
}

/** What the router reads the cluster from: a live cache, never a network call per request. */
export interface WorkerSource {
  /** The workers serving `model` now that can take requests (running, on a healthy hive, with an API). */
  candidates(model: string): readonly RouteCandidate[];
  /** Every model some candidate serves, sorted. */
  models(): string[];
}
