import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { WorkerTelemetrySchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { attributeGpuUse } from "../../src/hive/gpu-attribution.js";
import type { WorkerSample } from "../../src/hive/workers/worker-supervisor.js";

function sample(workerId: string, pids: number[], gpuUuids: string[] = []): WorkerSample {
  return { telemetry: create(WorkerTelemetrySchema, { workerId, pid: pids[0], gpuUuids }), pids };
}

describe("attributeGpuUse", () => {
  it("sums VRAM and SM % over each worker's own pids and adds the GPUs it is seen on", () => {
    const samples = [sample("a", [100, 101, 102], ["GPU-0"]), sample("b", [200])];
    const processes = [
      { pid: 101, gpuUuid: "GPU-0", vramUsedBytes: 1000n, smPct: 30 },
      { pid: 102, gpuUuid: "GPU-1", vramUsedBytes: 500n, smPct: 5 },
      { pid: 200, gpuUuid: "GPU-1", vramUsedBytes: 7n },
      { pid: 999, gpuUuid: "GPU-0", vramUsedBytes: 1n << 40n, smPct: 90 }, // not a worker's process
    ];
    const [a, b] = attributeGpuUse(samples, processes, true);
    expect(a.vramUsedBytes).toBe(1500n);
    expect(a.gpuUtilizationPct).toBe(35);
    expect(a.gpuUuids).toEqual(["GPU-0", "GPU-1"]);
    expect(b.vramUsedBytes).toBe(7n);
    expect(b.gpuUtilizationPct).toBeUndefined(); // its only process has no SM figure
    expect(b.gpuUuids).toEqual(["GPU-1"]);
  });

  it("reports 0 for a GPU worker with no process on its GPUs, and nothing for a CPU-only worker", () => {
    const [gpuWorker, cpuWorker] = attributeGpuUse([sample("g", [1], ["GPU-0"]), sample("c", [2])], [], true);
    expect(gpuWorker.vramUsedBytes).toBe(0n);
    expect(gpuWorker.gpuUtilizationPct).toBe(0);
    expect(cpuWorker.vramUsedBytes).toBeUndefined();
    expect(cpuWorker.gpuUtilizationPct).toBeUndefined();
  });

  it("leaves GPU figures unset when the probe never succeeded", () => {
    const [worker] = attributeGpuUse([sample("g", [1], ["GPU-0"])], [], false);
    expect(worker.vramUsedBytes).toBeUndefined();
    expect(worker.gpuUtilizationPct).toBeUndefined();
  });

  it("caps the SM % of each GPU at 100", () => {
    const processes = [
      { pid: 1, gpuUuid: "GPU-0", smPct: 70 },
      { pid: 2, gpuUuid: "GPU-0", smPct: 60 },
      { pid: 2, gpuUuid: "GPU-1", smPct: 10 },
    ];
    const [worker] = attributeGpuUse([sample("a", [1, 2])], processes, true);
    expect(worker.gpuUtilizationPct).toBe(110);
  });

  it("does not modify the sampled telemetry", () => {
    const input = sample("a", [5], ["GPU-0"]);
    attributeGpuUse([input], [{ pid: 5, gpuUuid: "GPU-9", vramUsedBytes: 1n }], true);
    expect(input.telemetry.gpuUuids).toEqual(["GPU-0"]);
    expect(input.telemetry.vramUsedBytes).toBeUndefined();
  });
});
