import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { SpawnWorkerRequestSchema } from "../../../gen/apiary/v1/hive_pb.js";
import { WorkerState, WorkerTelemetrySchema } from "../../../gen/apiary/v1/telemetry_pb.js";
import { validateSpawnRequest } from "../../../src/hive/workers/validate-spawn-request.js";
import { modelFromArgv } from "../../../src/hive/workers/model-from-argv.js";
import { validateWorker } from "../../../src/queen/ingest/report-validation.js";

const ok = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch (err) {
    if (err instanceof ConnectError) return false;
    throw err;
  }
};

describe("SpawnWorker and the queen share one rule set for worker fields", () => {
  it("refuses what the queen would leave out of a report: label keys with spaces, long models, long GPU ids", () => {
    const argv = ["/bin/true"];
    expect(() => validateSpawnRequest(create(SpawnWorkerRequestSchema, { argv, labels: { "team x": "a" } }))).toThrow(/^\[invalid_argument\] labels\["team x"\]: key must be/);
    expect(() => validateSpawnRequest(create(SpawnWorkerRequestSchema, { argv, model: "m".repeat(1025) }))).toThrow(/^\[invalid_argument\] model: must be at most 1024/);
    expect(() => validateSpawnRequest(create(SpawnWorkerRequestSchema, { argv: ["/bin/true", "--model", "m".repeat(1025)] }))).toThrow(/argv \(model parsed from it\): must be at most 1024/);
    expect(() => validateSpawnRequest(create(SpawnWorkerRequestSchema, { argv, gpuUuids: [`GPU-${"x".repeat(130)}`] }))).toThrow(/^\[invalid_argument\] gpu_uuids\[0\]: must be 1–128/);
  });

  it("never accepts a worker the queen refuses (edge values of every shared field)", () => {
    const texts = ["", "a", "team x", "a/b", "-a", "ü", "\u0000", "\n", "x".repeat(129), "x".repeat(1025), "GPU-1", "a,b", ".", "..", "k.e_y-1"];
    let accepted = 0;
    for (const workerId of texts) {
      for (const value of texts) {
        const request = create(SpawnWorkerRequestSchema, {
          argv: ["/bin/true", "--model", value],
          workerId: workerId === "" ? "w" : workerId,
          labels: { [value]: workerId },
          gpuUuids: [value],
        });
        if (!ok(() => validateSpawnRequest(request))) continue;
        accepted++;
        const reported = create(WorkerTelemetrySchema, {
          workerId: request.workerId,
          pid: 1,
          state: WorkerState.RUNNING,
          model: modelFromArgv(request.argv),
          labels: request.labels,
          gpuUuids: request.gpuUuids,
          argv: request.argv,
        });
        expect(ok(() => validateWorker("w", reported)), `queen refuses ${JSON.stringify(request.workerId)} / ${JSON.stringify(value)}`).toBe(true);
      }
    }
    expect(accepted).toBeGreaterThan(0);
  });
});
