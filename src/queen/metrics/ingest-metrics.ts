import type { Interceptor } from "@connectrpc/connect";
import { Counter, Histogram, type Registry } from "prom-client";
import type { HeartbeatRequest, HeartbeatResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import { observeIterable } from "../../common/observed-iterable.js";
import { codeLabel } from "../../rpc/metrics/rpc-metrics.js";

/**
 * apiary_queen_reports_* and the ack latency, measured on the Heartbeat stream itself: a report is
 * accepted when its ack goes out; a report the stream ends on without an ack is rejected, by the
 * code the stream ended with (invalid_argument, failed_precondition, aborted for a superseded stream, ...).
 */
export function ingestMetricsInterceptor(registry: Registry): Interceptor {
  const accepted = new Counter({ name: "apiary_queen_reports_accepted_total", help: "Hive reports applied and acked.", registers: [registry] });
  const rejected = new Counter({
    name: "apiary_queen_reports_rejected_total",
    help: "Hive reports not applied, by reason (the code the Heartbeat stream ended with).",
    labelNames: ["reason"],
    registers: [registry],
  });
  const ackLatency = new Histogram({
    name: "apiary_queen_ack_latency_seconds",
    help: "From a report read off the Heartbeat stream to its ack written, seconds.",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  for (const reason of ["invalid_argument", "failed_precondition", "aborted", "unavailable"]) rejected.inc({ reason }, 0);

  return (next) => async (req) => {
    if (!req.stream || req.service.typeName !== QueenService.typeName || req.method.name !== "Heartbeat") return next(req);
    /** Read times of reports not acked yet, oldest first (one stream handles them in order). */
    const unacked: number[] = [];
    const reads = observeIterable(req.message as AsyncIterable<HeartbeatRequest>, {
      value: (m) => {
        if (m.kind.case === "report") unacked.push(performance.now());
      },
    });
    const res = await next({ ...req, message: reads });
    if (!res.stream) return res;
    const writes = observeIterable(res.message as AsyncIterable<HeartbeatResponse>, {
      value: (m) => {
        if (m.kind.case !== "ack") return;
        const readAt = unacked.shift();
        accepted.inc();
        if (readAt !== undefined) ackLatency.observe((performance.now() - readAt) / 1000);
      },
      end: (failure) => {
        if (failure !== undefined && unacked.length > 0) rejected.inc({ reason: codeLabel(failure) }, unacked.length);
      },
    });
    return { ...res, message: writes };
  };
}
