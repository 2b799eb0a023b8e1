import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { createMetricsRegistry } from "../rpc/metrics/metrics-route.js";
import type { PickReason } from "./picker.js";

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** The router's own series (`apiary_route_`), per model and worker; a worker's go when it leaves. */
export class RouteMetrics {
  readonly registry: Registry;
  private readonly requests: Counter<"model" | "worker" | "code">;
  private readonly rejected: Counter<"model" | "reason">;
  private readonly ttft: Histogram<"model" | "worker">;
  private readonly duration: Histogram<"model" | "worker">;
  private readonly picks: Counter<"reason">;
  private readonly retries: Counter<"model">;
  private readonly inFlight: Gauge<"worker">;
  /** Worker → model → status codes seen: the label sets to remove when the worker leaves. */
  private readonly known = new Map<string, Map<string, Set<string>>>();

  constructor(registry: Registry = createMetricsRegistry()) {
    this.registry = registry;
    const registers = [registry];
    this.requests = new Counter({ name: "apiary_route_requests_total", help: "Requests forwarded to a worker, by the status the worker answered (0: no answer).", labelNames: ["model", "worker", "code"], registers });
    this.rejected = new Counter({ name: "apiary_route_rejected_total", help: "Requests the router answered itself: bad_request, unknown_model, overloaded, no_worker, upstream_failed.", labelNames: ["model", "reason"], registers });
    this.ttft = new Histogram({ name: "apiary_route_time_to_first_token_seconds", help: "From the request's arrival to the first byte of the worker's response body.", labelNames: ["model", "worker"], buckets: LATENCY_BUCKETS, registers });
    this.duration = new Histogram({ name: "apiary_route_request_duration_seconds", help: "From the request's arrival to the end of the worker's response.", labelNames: ["model", "worker"], buckets: LATENCY_BUCKETS, registers });
    this.picks = new Counter({ name: "apiary_route_picks_total", help: "Workers picked, by why: least_loaded, round_robin, prefix, session.", labelNames: ["reason"], registers });
    this.retries = new Counter({ name: "apiary_route_retries_total", help: "Requests sent again to another worker after a connection failure.", labelNames: ["model"], registers });
    this.inFlight = new Gauge({ name: "apiary_route_in_flight_requests", help: "Requests the router has open on each worker.", labelNames: ["worker"], registers });
  }

  picked(reason: PickReason): void {
    this.picks.inc({ reason });
  }

  retried(model: string): void {
    this.retries.inc({ model });
  }

  rejectedRequest(model: string, reason: string): void {
    this.rejected.inc({ model, reason });
  }

  started(worker: string, model: string): void {
    this.codes(worker, model);
    this.inFlight.inc({ worker });
  }

  firstByte(worker: string, model: string, seconds: number): void {
    this.ttft.observe({ model, worker }, seconds);
  }

  finished(worker: string, model: string, code: number, seconds: number): void {
    this.inFlight.dec({ worker });
    this.codes(worker, model).add(String(code));
    this.requests.inc({ model, worker, code: String(code) });
    this.duration.observe({ model, worker }, seconds);
  }

  /** Drops the series of workers no longer in the cluster (and with nothing open). */
  forget(current: ReadonlySet<string>, open: (worker: string) => number): void {
    for (const [worker, models] of this.known) {
      if (current.has(worker) || open(worker) > 0) continue;
      for (const [model, codes] of models) {
        for (const code of codes) this.requests.remove({ model, worker, code });
        this.ttft.remove({ model, worker });
        this.duration.remove({ model, worker });
      }
      this.inFlight.remove({ worker });
      this.known.delete(worker);
    }
  }

  private codes(worker: string, model: string): Set<string> {
    let models = this.known.get(worker);
    if (!models) this.known.set(worker, (models = new Map()));
    let codes = models.get(model);
    if (!codes) models.set(model, (codes = new Set()));
    return codes;
  }
}
