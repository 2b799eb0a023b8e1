import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeviceOrder, HeartbeatRequestSchema, WorkerOrder, type QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { GpuProbeState, HiveReportSchema, WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import type { Queen } from "../../src/queen/queen.js";
import { validateReport } from "../../src/queen/ingest/report-validation.js";
import { AsyncQueue } from "./helpers/async-queue.js";
import { startTestQueen } from "./helpers/queen-fixture.js";
import { makeDevice, makeHiveInfo, makeReport, makeWorker } from "./helpers/telemetry-builders.js";
import { TestHive } from "./helpers/test-hive.js";

let queen: Queen;
let client: Client<typeof QueenService>;
let steady: TestHive;

beforeAll(async () => {
  ({ queen, client } = await startTestQueen({ maxMessageBytes: 64 * 1024 }));
  steady = await TestHive.connect(queen.url, "steady");
  await steady.report(makeReport(1, [makeDevice("steady", 0)], [makeWorker("w1")]));
});
afterAll(async () => {
  steady.abort();
  await queen.close();
});

async function registryState() {
  const list = await client.listHives({});
  return { revision: queen.registry.revision(), hives: list.hives.map((h) => ({ ...h, lastSeen: undefined })) };
}

async function expectCode(promise: Promise<unknown>, code: Code, message: RegExp): Promise<void> {
  const err = await promise.then(() => undefined, (e: unknown) => ConnectError.from(e));
  expect(err, "call should fail").toBeInstanceOf(ConnectError);
  expect(Code[err!.code]).toBe(Code[code]);
  expect(err!.rawMessage).toMatch(message);
}

/** Sends raw requests on a fresh Heartbeat stream and returns the stream's outcome. */
async function rawStream(requests: MessageInitShape<typeof HeartbeatRequestSchema>[]): Promise<void> {
  const queue = new AsyncQueue<ReturnType<typeof create<typeof HeartbeatRequestSchema>>>();
  for (const r of requests) queue.push(create(HeartbeatRequestSchema, r));
  queue.end();
  for await (const _ of client.heartbeat(queue)) void _;
}

describe("bad input on Heartbeat", () => {
  it("rejects a stream that does not start with hello, and bad hellos, changing nothing", async () => {
    const before = await registryState();
    await expectCode(rawStream([{ kind: { case: "report", value: makeReport(1, [], []) } }]), Code.InvalidArgument, /first message must be hello/);
    await expectCode(rawStream([]), Code.InvalidArgument, /first message must be hello/);
    await expectCode(rawStream([{ kind: { case: "hello", value: { hive: makeHiveInfo(""), incarnation: "i" } } }]), Code.InvalidArgument, /^hello\.hive\.hive_id: must not be empty/);
    await expectCode(rawStream([{ kind: { case: "hello", value: { incarnation: "i" } } }]), Code.InvalidArgument, /^hello\.hive: must be set/);
    await expectCode(rawStream([{ kind: { case: "hello", value: { hive: makeHiveInfo("x".repeat(300)), incarnation: "i" } } }]), Code.InvalidArgument, /hive_id: must be at most 253/);
    await expectCode(rawStream([{ kind: { case: "hello", value: { hive: makeHiveInfo("bad\nid"), incarnation: "i" } } }]), Code.InvalidArgument, /hive_id: must be printable/);
    await expectCode(rawStream([{ kind: { case: "hello", value: { hive: makeHiveInfo("h"), incarnation: "" } } }]), Code.InvalidArgument, /^hello\.incarnation: must not be empty/);
    await expectCode(rawStream([{ kind: { case: "hello", value: { hive: makeHiveInfo("h", { "bad key!": "v" }), incarnation: "i" } } }]), Code.InvalidArgument, /hello\.hive\.labels/);
    expect(await registryState()).toEqual(before);
  });

  const badReports: [string, () => ReturnType<typeof makeReport>, RegExp][] = [
    ["unknown probe state", () => create(HiveReportSchema, { seq: 1n, gpuProbe: { state: 42 as GpuProbeState } }), /^report\.gpu_probe\.state: unknown value 42/],
    ["GPU utilisation over 100", () => makeReport(1, [makeDevice("h", 0, { utilizationPct: 101 })], []), /^report\.devices\[0\]\.utilization_pct/],
    ["duplicate device uuid", () => makeReport(1, [makeDevice("h", 0), makeDevice("h", 0)], []), /^report\.devices\[1\]\.uuid: duplicate/],
    ["too many devices", () => makeReport(1, Array.from({ length: 65 }, (_, i) => makeDevice("h", i)), []), /^report\.devices: at most 64/],
    ["absurd available memory", () => create(HiveReportSchema, { seq: 1n, memoryAvailableBytes: 2n ** 60n }), /^report\.memory_available_bytes/],
  ];

  for (const [name, build, message] of badReports) {
    it(`rejects a structurally broken report (${name}) before touching the registry`, async () => {
      const hive = await TestHive.connect(queen.url, "h", { incarnation: "inc" });
      await hive.report(makeReport(1, [makeDevice("h", 0)], [makeWorker("good")]));
      const before = queen.registry.hive("h")!;
      const keep = { workers: before.workers, devices: before.devices, lastSeq: before.lastSeq };
      const steadyBefore = (await client.getHive({ hiveId: "steady" })).hive;
      hive.send({ case: "report", value: build() });
      await expectCode(hive.next(), Code.InvalidArgument, message);
      const after = queen.registry.hive("h")!;
      // The stream is gone (the hive is DEGRADED, as for any broken stream), but nothing it sent was applied.
      expect({ workers: after.workers, devices: after.devices, lastSeq: after.lastSeq }).toEqual(keep);
      expect((await client.getHive({ hiveId: "steady" })).hive).toEqual(steadyBefore);
    });
  }

  const badWorkers: [string, () => ReturnType<typeof makeWorker>, RegExp][] = [
    ["a label key with a space", () => makeWorker("w-label", { labels: { "team x": "a" } }), /^report\.workers\[\d\]\.labels\["team x"\]: key must be/],
    ["a model over 1024 characters", () => makeWorker("w-model", { model: "m".repeat(1025) }), /^report\.workers\[\d\]\.model: must be at most 1024/],
    ["a GPU UUID over 128 characters", () => makeWorker("w-gpu", { gpuUuids: [`GPU-${"x".repeat(130)}`] }), /^report\.workers\[\d\]\.gpu_uuids\[0\]: must be 1–128/],
    ["an empty worker id", () => makeWorker(""), /^report\.workers\[\d\]\.worker_id: must not be empty/],
    ["a duplicate worker id", () => makeWorker("good-1"), /^report\.workers\[\d\]\.worker_id: duplicate "good-1"/],
    ["an unknown worker state", () => makeWorker("w-state", { state: 99 as WorkerState }), /^report\.workers\[\d\]\.state: unknown value 99/],
    ["a NaN cpu", () => makeWorker("w-nan", { cpuPct: NaN }), /^report\.workers\[\d\]\.cpu_pct: must be a finite number/],
    ["a negative cpu", () => makeWorker("w-neg", { cpuPct: -1 }), /^report\.workers\[\d\]\.cpu_pct: must be within/],
    ["absurd memory", () => makeWorker("w-mem", { memoryRssBytes: 2n ** 63n }), /^report\.workers\[\d\]\.memory_rss_bytes/],
    ["a negative pid", () => makeWorker("w-pid", { pid: -5 }), /^report\.workers\[\d\]\.pid/],
    ["an infinite I/O rate", () => makeWorker("w-io", { ioReadBytesPerSec: Infinity }), /^report\.workers\[\d\]\.io_read_bytes_per_sec/],
    ["an argument with a NUL", () => makeWorker("w-argv", { argv: ["python3", "a\0b"] }), /^report\.workers\[\d\]\.argv\[1\]: must not contain NUL/],
    ["an engine KV cache ratio over 1", () => makeWorker("w-kv", { engineLoad: { kvCacheUsageRatio: 1.5 } }), /^report\.workers\[\d\]\.engine_load\.kv_cache_usage_ratio: must be within 0\.\.1/],
    ["an error source over 64 characters", () => makeWorker("w-err", { errors: [{ source: "s".repeat(65), message: "m" }] }), /^report\.workers\[\d\]\.errors\[0\]\.source: must be at most 64/],
  ];

  for (const [name, build, message] of badWorkers) {
    it(`leaves out a worker with ${name}, applies the rest of the report and says why in the hive's errors`, async () => {
      const hive = await TestHive.connect(queen.url, "h-bad-worker");
      const good = [makeWorker("good-1", { gpuUuids: ["GPU-h-bad-worker-0"] }), makeWorker("good-2", { model: "other" })];
      const ack = await hive.report(makeReport(1, [makeDevice("h-bad-worker", 0)], [good[0], build(), good[1]]));
      expect(ack.seq).toBe(1n);
      const { hive: status } = await client.getHive({ hiveId: "h-bad-worker" });
      expect(status!.workers.map((w) => w.workerId)).toEqual(["good-1", "good-2"]);
      expect(status!.connected).toBe(true);
      const errors = status!.errors.filter((e) => e.source === "queen");
      expect(errors).toHaveLength(1);
      expect(errors[0].message).toMatch(/^worker ".*" left out of the report: /);
      expect(errors[0].message.replace(/^worker ".*?" left out of the report: /, "")).toMatch(message);
      expect((await client.findWorkers({ model: "llama-3-8b" })).matches.map((m) => m.worker!.workerId)).toContain("good-1");
      // The next report is acked too: the stream stays up.
      expect((await hive.report(makeReport(2, [makeDevice("h-bad-worker", 0)], good))).seq).toBe(2n);
      expect((await client.getHive({ hiveId: "h-bad-worker" })).hive!.errors.filter((e) => e.source === "queen")).toEqual([]);
      await hive.goodbye();
    });
  }

  it("caps the number of workers in a report", () => {
    const report = makeReport(1, [], Array.from({ length: 4097 }, (_, i) => makeWorker(`w${i}`)));
    expect(() => validateReport(report)).toThrow(/^\[invalid_argument\] report\.workers: at most 4096 entries allowed, got 4097/);
    report.workers.pop();
    expect(validateReport(report)).toEqual([]);
  });

  it("rejects a second hello with FAILED_PRECONDITION", async () => {
    const hive = await TestHive.connect(queen.url, "h2", { incarnation: "inc" });
    const revision = queen.registry.revision();
    hive.send({ case: "hello", value: { hive: makeHiveInfo("other"), incarnation: "inc" } });
    await expectCode(hive.next(), Code.FailedPrecondition, /^hello: already received/);
    expect(queen.registry.hive("other")).toBeUndefined();
    expect(queen.registry.revision()).toBe(revision + 1); // only h2's own disconnect
  });

  it("rejects an oversized message with RESOURCE_EXHAUSTED", async () => {
    const hive = await TestHive.connect(queen.url, "h3");
    const before = queen.registry.hive("h3")!.workers;
    hive.send({ case: "report", value: makeReport(1, [], [makeWorker("w", { argv: ["x".repeat(100_000)] })]) });
    await expectCode(hive.next(), Code.ResourceExhausted, /./);
    expect(queen.registry.hive("h3")!.workers).toBe(before);
  });
});

describe("bad input on queries", () => {
  it("names the offending field and changes nothing", async () => {
    const before = await registryState();
    await expectCode(client.getHive({ hiveId: "" }), Code.InvalidArgument, /^hive_id: must not be empty/);
    await expectCode(client.findWorkers({ maxGpuUtilizationPct: -1 }), Code.InvalidArgument, /^max_gpu_utilization_pct/);
    await expectCode(client.findWorkers({ maxGpuUtilizationPct: NaN }), Code.InvalidArgument, /^max_gpu_utilization_pct: must be a finite number/);
    await expectCode(client.findWorkers({ state: 99 as WorkerState }), Code.InvalidArgument, /^state: unknown value 99/);
    await expectCode(client.findWorkers({ order: 7 as WorkerOrder }), Code.InvalidArgument, /^order: unknown value 7/);
    await expectCode(client.findWorkers({ hiveLabels: { "": "x" } }), Code.InvalidArgument, /^hive_labels\[""\]/);
    await expectCode(client.findWorkers({ hiveIds: [""] }), Code.InvalidArgument, /^hive_ids\[0\]: must not be empty/);
    await expectCode(client.findWorkers({ workerLabels: { "a b": "x" } }), Code.InvalidArgument, /^worker_labels\["a b"\]/);
    await expectCode(client.findDevices({ maxUtilizationPct: 101 }), Code.InvalidArgument, /^max_utilization_pct/);
    await expectCode(client.findDevices({ order: 9 as DeviceOrder }), Code.InvalidArgument, /^order: unknown value 9/);
    await expectCode(client.listHives({ hiveLabels: { "a b": "x" } }), Code.InvalidArgument, /^hive_labels/);
    const watch = async () => {
      for await (const _ of client.watch({ kinds: [0] })) void _;
    };
    await expectCode(watch(), Code.InvalidArgument, /^kinds\[0\]: unknown value 0/);
    const negative = async () => {
      for await (const _ of client.watch({ bookmarkInterval: { seconds: -1n } })) void _;
    };
    await expectCode(negative(), Code.InvalidArgument, /^bookmark_interval/);
    expect(await registryState()).toEqual(before);
  });
});
