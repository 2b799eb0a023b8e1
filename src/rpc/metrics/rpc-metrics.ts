import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Counter, Histogram, type Registry } from "prom-client";
import { observeIterable } from "../../common/observed-iterable.js";

/** A Code as Connect spells it on the wire: "invalid_argument"; "ok" for success. */
export function codeLabel(err: unknown): string {
  if (err === undefined) return "ok";
  const code = err instanceof ConnectError ? err.code : ConnectError.from(err).code;
  return (Code[code] ?? "unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/**
 * apiary_rpc_*: every call by service, method and code, and the latency of unary calls (a stream's
 * lifetime is not a latency). Streams count when they end.
 */
export function rpcMetricsInterceptor(registry: Registry): Interceptor {
  const handled = new Counter({
    name: "apiary_rpc_server_handled_total",
    help: "RPCs completed by the server, by service, method and code (ok, invalid_argument, unavailable, ...).",
    labelNames: ["service", "method", "type", "code"],
    registers: [registry],
  });
  const started = new Counter({
    name: "apiary_rpc_server_started_total",
    help: "RPCs started on the server, by service and method.",
    labelNames: ["service", "method", "type"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "apiary_rpc_server_handling_seconds",
    help: "Time the server took to answer unary RPCs, by service, method and code, seconds.",
    labelNames: ["service", "method", "code"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return (next) => async (req) => {
    const labels = { service: req.service.typeName, method: req.method.name, type: req.method.methodKind };
    started.inc(labels);
    const t0 = performance.now();
    const done = (err?: unknown) => {
      const code = codeLabel(err);
      handled.inc({ ...labels, code });
      if (!req.stream) latency.observe({ service: labels.service, method: labels.method, code }, (performance.now() - t0) / 1000);
    };
    let res;
    try {
      res = await next(req);
    } catch (err) {
      done(err);
      throw err;
    }
    if (!res.stream) {
      done();
      return res;
    }
    const signal = req.signal;
    return {
      ...res,
      message: observeIterable(res.message, { end: (failure) => done(failure ?? (signal.aborted ? new ConnectError("client went away", Code.Canceled) : undefined)) }),
    };
  };
}
