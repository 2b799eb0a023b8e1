import { create } from "@bufbuild/protobuf";
import { SpawnWorkerRequestSchema } from "../../gen/apiary/v1/hive_pb.js";
import type { GpuDevice, WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import type { Hive } from "../hive/hive.js";
import { packagePath } from "../common/package-root.js";
import { freePort } from "../common/free-port.js";

export const DEMO_WORKER = packagePath("examples", "demo-worker", "demo-worker.mjs");

/** Models of demo-1, demo-2, …: the first model twice among the first three, so `apiary route` has a choice. */
const MODELS = ["llama-3.1-8b-instruct", "qwen2.5-7b-instruct", "llama-3.1-8b-instruct", "mistral-7b-instruct", "qwen2.5-7b-instruct", "phi-3-mini"];

/**
 * Starts `count` demo workers on the hive (skipping ids it already re-adopted), spread over its
 * GPUs, each holding some memory and burning a little CPU so every column moves, and each serving
 * a vLLM-format /metrics whose simulated load rises and falls (the RUN, WAIT, KV, TOK/S columns).
 */
export async function startDemoWorkers(hive: Hive, devices: GpuDevice[], count: number): Promise<WorkerTelemetry[]> {
  const existing = new Set(hive.supervisor.list().map((w) => w.workerId));
  const started: WorkerTelemetry[] = [];
  for (let i = 0; i < count; i++) {
    const workerId = `demo-${i + 1}`;
    if (existing.has(workerId)) continue;
    const model = MODELS[i % MODELS.length];
    const gpu = devices.length > 0 ? devices[i % devices.length] : undefined;
    const enginePort = await freePort();
    started.push(
      await hive.supervisor.spawn(
        create(SpawnWorkerRequestSchema, {
          workerId,
          model,
          argv: [process.execPath, DEMO_WORKER, "--model", model, "--memory", `${64 * (i + 1)}MiB`, "--cpu", "0.05", "--io-write-mb-per-sec", "1",
            "--engine", "vllm", "--engine-port", String(enginePort), "--engine-load", "wave"],
          engineMetrics: { case: "engineMetricsPort", value: enginePort },
          gpuUuids: gpu ? [gpu.uuid] : [],
          limits: { memoryMaxBytes: 1024n * 1024n * 1024n, cpuMaxMillicores: 500, enforced: false },
          labels: { demo: "true" },
        }),
      ),
    );
  }
  return started;
}
