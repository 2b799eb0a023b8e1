import { Gauge, type Registry } from "prom-client";
import { WorkerState, type GpuDevice, type WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { enumLabel, enumValues } from "../common/enum-label.js";
import { GPU_HEALTH_SERIES, registerGpuHealthSeries } from "./gpu-health-series.js";

/** One hive's devices and live workers, as the series read them at scrape time. */
export interface HiveTelemetry {
  hiveId: string;
  devices: readonly GpuDevice[];
  /** Live workers only: ended workers have no series. */
  workers: Iterable<WorkerTelemetry>;
}

/** Where the series read from at scrape time: the hive's latest report, or the queen's registry. */
export type TelemetrySource = () => Iterable<HiveTelemetry>;

/** A per-GPU gauge: name, help, and its value (undefined = unknown: no sample). */
export interface DeviceSeries {
  name: string;
  help: string;
  value: (device: GpuDevice) => number | undefined;
}

/** A per-worker gauge. Add entries here (or pass extra ones) to export more of WorkerTelemetry. */
export interface WorkerSeries {
  name: string;
  help: string;
  value: (worker: WorkerTelemetry) => number | undefined;
}

export const DEVICE_LABELS = ["hive", "gpu", "uuid", "model_name"] as const;
export const WORKER_LABELS = ["hive", "worker_id", "model"] as const;

const pct = (v: number | undefined) => (v === undefined ? undefined : v / 100);
const num = (v: bigint | undefined) => (v === undefined ? undefined : Number(v));

export const DEVICE_SERIES: readonly DeviceSeries[] = [
  { name: "apiary_gpu_utilization_ratio", help: "GPU (SM) utilisation over the driver's last sample period, 0-1 (DCGM_FI_DEV_GPU_UTIL / 100).", value: (d) => pct(d.utilizationPct) },
  { name: "apiary_gpu_memory_utilization_ratio", help: "Fraction of time GPU memory was read or written, 0-1 (DCGM_FI_DEV_MEM_COPY_UTIL / 100).", value: (d) => pct(d.memoryUtilizationPct) },
  { name: "apiary_gpu_memory_used_bytes", help: "GPU framebuffer memory in use by all processes, bytes (DCGM_FI_DEV_FB_USED, MiB).", value: (d) => num(d.memoryUsedBytes) },
  { name: "apiary_gpu_memory_total_bytes", help: "GPU framebuffer memory in total, bytes (DCGM_FI_DEV_FB_TOTAL, MiB).", value: (d) => num(d.memoryTotalBytes) },
  {
    name: "apiary_gpu_memory_free_bytes",
    help: "GPU framebuffer memory free (total - used), bytes (DCGM_FI_DEV_FB_FREE, MiB).",
    value: (d) => (d.memoryTotalBytes === undefined || d.memoryUsedBytes === undefined ? undefined : Math.max(0, Number(d.memoryTotalBytes - d.memoryUsedBytes))),
  },
  { name: "apiary_gpu_temperature_celsius", help: "GPU core temperature, degrees Celsius (DCGM_FI_DEV_GPU_TEMP).", value: (d) => d.temperatureC },
  { name: "apiary_gpu_power_watts", help: "GPU board power draw, watts (DCGM_FI_DEV_POWER_USAGE).", value: (d) => d.powerDrawW },
  { name: "apiary_gpu_power_limit_watts", help: "GPU enforced power limit, watts (DCGM_FI_DEV_POWER_MGMT_LIMIT).", value: (d) => d.powerLimitW },
];

export const WORKER_SERIES: readonly WorkerSeries[] = [
  { name: "apiary_worker_memory_rss_bytes", help: "Memory in use by the worker (its cgroup's usage, or the RSS summed over its processes), bytes.", value: (w) => num(w.memoryRssBytes) },
  { name: "apiary_worker_vram_used_bytes", help: "GPU memory used by the worker's processes, summed over its GPUs, bytes.", value: (w) => num(w.vramUsedBytes) },
  { name: "apiary_worker_gpu_utilization_ratio", help: "SM utilisation of the worker's processes, summed over its GPUs (1 = one GPU fully busy).", value: (w) => pct(w.gpuUtilizationPct) },
  { name: "apiary_worker_cpu_usage_ratio", help: "CPU use of the worker over the last interval, in cores (1 = one core busy).", value: (w) => pct(w.cpuPct) },
  { name: "apiary_worker_processes", help: "Processes in the worker (main process and descendants).", value: (w) => w.processCount },
];

const STATES = enumValues(WorkerState);

/** True for states after which a worker has no series (ended). */
export function isEnded(state: WorkerState): boolean {
  return state === WorkerState.EXITED || state === WorkerState.FAILED;
}

/**
 * Registers the per-GPU and per-worker gauges on `registry`. Values are computed from `source`
 * at scrape time; each scrape starts from no series, so vanished GPUs and ended workers disappear.
 */
export function registerTelemetrySeries(
  registry: Registry,
  source: TelemetrySource,
  extraWorkerSeries: readonly WorkerSeries[] = [],
): void {
  registerGpuHealthSeries(registry, source);
  for (const series of [...DEVICE_SERIES, ...GPU_HEALTH_SERIES]) {
    new Gauge({
      name: series.name,
      help: series.help,
      labelNames: DEVICE_LABELS,
      registers: [registry],
      collect() {
        this.reset();
        for (const hive of source()) {
          for (const device of hive.devices) {
            const value = series.value(device);
            if (value !== undefined) this.set({ hive: hive.hiveId, gpu: String(device.index), uuid: device.uuid, model_name: device.name }, value);
          }
        }
      },
    });
  }
  for (const series of [...WORKER_SERIES, ...extraWorkerSeries]) {
    new Gauge({
      name: series.name,
      help: series.help,
      labelNames: WORKER_LABELS,
      registers: [registry],
      collect() {
        this.reset();
        for (const hive of source()) {
          for (const worker of hive.workers) {
            const value = series.value(worker);
            if (value !== undefined) this.set({ hive: hive.hiveId, worker_id: worker.workerId, model: worker.model }, value);
          }
        }
      },
    });
  }
  new Gauge({
    name: "apiary_worker_state",
    help: "1 for the worker's current lifecycle state, 0 for the others.",
    labelNames: [...WORKER_LABELS, "state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const hive of source()) {
        for (const worker of hive.workers) {
          for (const state of STATES) {
            if (isEnded(state)) continue;
            this.set({ hive: hive.hiveId, worker_id: worker.workerId, model: worker.model, state: enumLabel(WorkerState, state) }, state === worker.state ? 1 : 0);
          }
        }
      }
    },
  });
}
