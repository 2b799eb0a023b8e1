import { Counter, type Registry } from "prom-client";
import type { HiveReport } from "../../../gen/apiary/v1/telemetry_pb.js";
import { createMetricsRegistry } from "../../rpc/metrics/metrics-route.js";
import { isEnded, registerTelemetrySeries, WORKER_LABELS, type WorkerSeries } from "../../contracts/telemetry-series.js";
import type { GpuProbeObserver } from "../gpu/gpu-probe.js";
import { gpuProbeMetrics } from "./gpu-probe-metrics.js";
import { WorkerCounters, type WorkerTotals } from "./worker-counters.js";

export interface HiveMetricsOptions {
  hiveId: string;
  /** More per-worker gauges (from WorkerTelemetry fields added later). */
  extraWorkerSeries?: readonly WorkerSeries[];
}

/**
 * The hive's /metrics: per-GPU and per-worker series from its latest report, worker CPU and I/O
 * counters, and the GPU probe's own health. Feed it every report with observeReport().
 */
export class HiveMetrics {
  readonly registry: Registry = createMetricsRegistry();
  readonly gpuProbeObserver: GpuProbeObserver;
  private latest: HiveReport | undefined;
  private readonly counters = new WorkerCounters();

  constructor(private readonly opts: HiveMetricsOptions) {
    const hiveId = opts.hiveId;
    this.gpuProbeObserver = gpuProbeMetrics(this.registry, hiveId);
    registerTelemetrySeries(
      this.registry,
      () => {
        const report = this.latest;
        if (!report) return [];
        return [{ hiveId, devices: report.devices, workers: report.workers.filter((w) => !isEnded(w.state)) }];
      },
      opts.extraWorkerSeries,
    );
    const counter = (name: string, help: string, value: (t: WorkerTotals) => number) =>
      new Counter({
        name,
        help,
        labelNames: WORKER_LABELS,
        registers: [this.registry],
        collect: function (this: Counter<string>) {
          this.reset();
          for (const t of counters.totals()) this.inc({ hive: hiveId, worker_id: t.worker.workerId, model: t.worker.model }, value(t));
        },
      });
    const counters = this.counters;
    counter("apiary_worker_cpu_seconds_total", "CPU time used by the worker since this hive process first measured it, seconds.", (t) => t.cpuSeconds);
    counter("apiary_worker_io_read_bytes_total", "Bytes the worker read from storage since this hive process first measured it.", (t) => t.ioReadBytes);
    counter("apiary_worker_io_write_bytes_total", "Bytes the worker wrote to storage since this hive process first measured it.", (t) => t.ioWriteBytes);
  }

  /** The monitor published a report. */
  observeReport(report: HiveReport): void {
    this.latest = report;
    this.counters.update(report);
  }
}
