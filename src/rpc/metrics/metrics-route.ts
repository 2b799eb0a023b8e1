import { collectDefaultMetrics, Registry } from "prom-client";
import type { HttpRouteHandler } from "../http-routes.js";

/** A registry with the process and Node.js runtime series (process_*, nodejs_*) already on it. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges that prom-client names like counters (promtool rejects them); the per-type gauges without the suffix stay.
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) registry.removeSingleMetric(name);
  return registry;
}

/** GET /metrics: the registry in the Prometheus text format. */
export function metricsRoute(registry: Registry): HttpRouteHandler {
  return async () => ({ status: 200, headers: { "content-type": registry.contentType }, body: await registry.metrics() });
}
