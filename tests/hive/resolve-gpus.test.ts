import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { GpuDeviceSchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { resolveGpus } from "../../src/hive/workers/resolve-gpus.js";

const devices = [
  create(GpuDeviceSchema, { index: 0, uuid: "GPU-aaaa" }),
  create(GpuDeviceSchema, { index: 1, uuid: "GPU-bbbb" }),
];

function rejection(f: () => unknown): ConnectError {
  try {
    f();
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected a rejection");
}

describe("resolveGpus", () => {
  it("takes indexes, as CUDA_VISIBLE_DEVICES does, and UUIDs, answering UUIDs", () => {
    expect(resolveGpus(["1"], devices, "")).toEqual(["GPU-bbbb"]);
    expect(resolveGpus(["GPU-aaaa", "1"], devices, "")).toEqual(["GPU-aaaa", "GPU-bbbb"]);
  });

  it("rejects unknown indexes and UUIDs, and duplicates, with INVALID_ARGUMENT naming the entry", () => {
    const index = rejection(() => resolveGpus(["0", "7"], devices, ""));
    expect(index.code).toBe(Code.InvalidArgument);
    expect(index.rawMessage).toMatch(/^gpu_uuids\[1\]: no GPU index 7 on this hive \(GPUs: 0=GPU-aaaa, 1=GPU-bbbb\)/);
    expect(rejection(() => resolveGpus(["GPU-zzzz"], devices, "")).rawMessage).toMatch(/^gpu_uuids\[0\]: no GPU UUID GPU-zzzz/);
    expect(rejection(() => resolveGpus(["0", "GPU-aaaa"], devices, "")).rawMessage).toMatch(/^gpu_uuids\[1\]: GPU GPU-aaaa named twice/);
    expect(rejection(() => resolveGpus(["0"], [], "GPU probe disabled by configuration")).rawMessage).toMatch(
      /no GPUs: GPU probe disabled by configuration/,
    );
  });
});
