import { Counter, Histogram, type Registry } from "prom-client";
import { GpuProbeState } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { GpuProbeObserver } from "../gpu/gpu-probe.js";
import { enumLabel, enumValues } from "../../common/enum-label.js";

/** apiary_gpu_probe_*: how the hive's nvidia-smi probe fares. */
export function gpuProbeMetrics(registry: Registry, hiveId: string): GpuProbeObserver {
  const duration = new Histogram({
    name: "apiary_gpu_probe_duration_seconds",
    help: "Duration of one GPU probe round (three concurrent nvidia-smi calls), seconds.",
    labelNames: ["hive"],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const outcomes = new Counter({
    name: "apiary_gpu_probe_outcomes_total",
    help: "GPU probe answers by state (ok, timeout, error, not_found); timeout includes ticks skipped while a probe still ran.",
    labelNames: ["hive", "state"],
    registers: [registry],
  });
  const killed = new Counter({
    name: "apiary_gpu_probe_killed_processes_total",
    help: "nvidia-smi processes killed at their deadline.",
    labelNames: ["hive"],
    registers: [registry],
  });
  for (const state of enumValues(GpuProbeState)) outcomes.inc({ hive: hiveId, state: enumLabel(GpuProbeState, state) }, 0);
  killed.inc({ hive: hiveId }, 0);
  return {
    outcome: (state) => outcomes.inc({ hive: hiveId, state: enumLabel(GpuProbeState, state) }),
    round: (ms) => duration.observe({ hive: hiveId }, ms / 1000),
    killed: () => killed.inc({ hive: hiveId }),
  };
}
