import { monitorEventLoopDelay } from "node:perf_hooks";
import type { Interceptor } from "@connectrpc/connect";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { enumLabel, enumValues } from "../../common/enum-label.js";
import { createMetricsRegistry } from "../../rpc/metrics/metrics-route.js";
import { rpcMetricsInterceptor } from "../../rpc/metrics/rpc-metrics.js";
import { isEnded, registerTelemetrySeries } from "../../contracts/telemetry-series.js";
import type { LivenessClock } from "../../common/clock.js";
import type { RegistryReadView } from "../registry/registry.js";
import type { WatchHub } from "../watch/watch-hub.js";
import { registerClusterMetrics, type ClusterMetricsSource } from "./cluster-metrics.js";
import { ingestMetricsInterceptor } from "./ingest-metrics.js";

export interface QueenMetricsOptions {
  registry: RegistryReadView;
  hub: WatchHub;
  liveness: LivenessClock;
  /** Also export every hive's per-GPU and per-worker gauges (off by default: 1,000 hives × 8 GPUs is tens of thousands of series). */
  perDeviceSeries?: boolean;
  /** Several queens: this queen's part in the cluster (undefined until it has joined). */
  cluster?: () => ClusterMetricsSource | undefined;
}

/**
 * The queen's /metrics: its own health (hives by health, workers by state, report ages, ingest,
 * acks, watchers, RPCs, sweep, event-loop delay). Point-in-time values are computed at scrape time.
 */
export class QueenMetrics {
  readonly registry: Registry = createMetricsRegistry();
  /** Outermost first: RPC counts, then Heartbeat ingest. */
  readonly interceptors: Interceptor[];
  private readonly sweepDuration: Histogram;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });

  constructor(private readonly opts: QueenMetricsOptions) {
    const { registry: hives, hub, liveness } = opts;
    const r = this.registry;
    this.interceptors = [rpcMetricsInterceptor(r), ingestMetricsInterceptor(r)];
    if (opts.cluster) registerClusterMetrics(r, opts.cluster);

    new Gauge({
      name: "apiary_queen_hives",
      help: "Hives the queen knows, by health (healthy, degraded, down).",
      labelNames: ["health"],
      registers: [r],
      collect() {
        const counts = new Map<HiveHealth, number>(enumValues(HiveHealth).map((h) => [h, 0]));
        for (const hive of hives.hives()) counts.set(hive.health, (counts.get(hive.health) ?? 0) + 1);
        for (const [health, n] of counts) this.set({ health: enumLabel(HiveHealth, health) }, n);
      },
    });
    new Gauge({
      name: "apiary_queen_workers",
      help: "Workers in the registry, by state.",
      labelNames: ["state"],
      registers: [r],
      collect() {
        const counts = new Map<WorkerState, number>(enumValues(WorkerState).map((s) => [s, 0]));
        for (const hive of hives.hives()) for (const w of hive.workers.values()) counts.set(w.state, (counts.get(w.state) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state: enumLabel(WorkerState, state) }, n);
      },
    });
    new Gauge({
      name: "apiary_queen_hive_last_report_age_seconds",
      help: "Seconds since the queen last received a report from the hive (its own monotonic clock, queen stalls not counted).",
      labelNames: ["hive"],
      registers: [r],
      collect() {
        this.reset();
        const now = liveness.nowMs();
        for (const hive of hives.hives()) this.set({ hive: hive.hiveId }, Math.max(0, now - hive.lastSeenMs) / 1000);
      },
    });
    new Gauge({
      name: "apiary_queen_registry_revision",
      help: "The registry's latest revision (every observable change increments it).",
      registers: [r],
      collect() {
        this.set(hives.revision());
      },
    });
    new Gauge({
      name: "apiary_queen_watchers",
      help: "Open Watch streams.",
      registers: [r],
      collect() {
        this.set(hub.stats().length);
      },
    });
    new Gauge({
      name: "apiary_queen_watch_queue_depth",
      help: "Undelivered changes in watcher queues: the sum over every watcher, and the deepest one.",
      labelNames: ["aggregation"],
      registers: [r],
      collect() {
        let sum = 0;
        let max = 0;
        for (const { pending } of hub.stats()) {
          sum += pending;
          max = Math.max(max, pending);
        }
        this.set({ aggregation: "sum" }, sum);
        this.set({ aggregation: "max" }, max);
      },
    });
    new Counter({
      name: "apiary_queen_watch_coalesced_total",
      help: "Undelivered changes replaced by a later change of the same object in a slow watcher's queue.",
      registers: [r],
      collect() {
        this.reset();
        this.inc(hub.totals().coalesced);
      },
    });
    new Counter({
      name: "apiary_queen_watch_resumes_total",
      help: "Watch streams that asked to resume (resume_token or since_revision), by result: replayed, or started over with a snapshot because of the token's epoch (another queen, a restart), filters, ledger (its stream's record is gone), position (older than the ledger keeps) or history (changes no longer retained).",
      labelNames: ["result"],
      registers: [r],
      collect() {
        this.reset();
        for (const [result, count] of hub.resumeCounts()) this.inc({ result }, count);
      },
    });
    new Counter({
      name: "apiary_queen_watch_overflows_total",
      help: "Watch streams ended with RESOURCE_EXHAUSTED because their queue overflowed.",
      registers: [r],
      collect() {
        this.reset();
        this.inc(hub.totals().overflowed);
      },
    });
    this.sweepDuration = new Histogram({
      name: "apiary_queen_sweep_duration_seconds",
      help: "Duration of one liveness sweep over every shard, seconds.",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [r],
    });
    this.loopDelay.enable();
    const loopDelay = this.loopDelay;
    // Three gauges over the window since the previous scrape; the window resets after the last one is read.
    const seconds = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
    const windows: [string, string, () => number][] = [
      ["apiary_queen_event_loop_delay_p50_seconds", "Median event-loop delay since the previous scrape, seconds.", () => seconds(loopDelay.percentile(50))],
      ["apiary_queen_event_loop_delay_p99_seconds", "99th percentile of the event-loop delay since the previous scrape, seconds.", () => seconds(loopDelay.percentile(99))],
      ["apiary_queen_event_loop_delay_max_seconds", "Longest event-loop delay since the previous scrape, seconds.", () => seconds(loopDelay.max)],
    ];
    windows.forEach(([name, help, value], i) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(value());
          if (i === windows.length - 1) loopDelay.reset();
        },
      }),
    );

    if (opts.perDeviceSeries) {
      registerTelemetrySeries(r, function* () {
        for (const hive of hives.hives()) {
          yield { hiveId: hive.hiveId, devices: hive.devices, workers: [...hive.workers.values()].filter((w) => !isEnded(w.state)) };
        }
      });
    }
  }

  /** The liveness sweeper finished a sweep. */
  observeSweep(durationMs: number): void {
    this.sweepDuration.observe(durationMs / 1000);
  }

  close(): void {
    this.loopDelay.disable();
  }
}
