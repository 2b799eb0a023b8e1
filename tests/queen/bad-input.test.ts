import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeviceOrder, HeartbeatRequestSchema, WorkerOrder, type QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { GpuProbeState, HiveReportSchema, WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import type { Queen } from "../../src/queen/queen.js";
import { validateReport } from "../../src/queen/report-validation.js";
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
    ["duplicate worker ids", () => makeReport(1, [], [makeWorker("w1"), makeWorker("w2"), makeWorker("w1")]), /^report\.workers\[2\]\.worker_id: duplicate "w1"/],
    ["empty worker id", () => makeReport(1, [], [makeWorker("")]), /^report\.workers\[0\]\.worker_id: must not be empty/],
    ["unknown worker state", () => makeReport(1, [], [makeWorker("w", { state: 99 as WorkerState })]), /^report\.workers\[0\]\.state: unknown value 99/],
    ["unknown probe state", () => create(HiveReportSchema, { seq: 1n, gpuProbe: { state: 42 as GpuProbeState } }), /^report\.gpu_probe\.state: unknown value 42/],
    ["NaN cpu", () => makeReport(1, [], [makeWorker("w", { cpuPct: NaN })]), /^report\.workers\[0\]\.cpu_pct: must be a finite number/],
    ["negative cpu", () => makeReport(1, [], [makeWorker("w", { cpuPct: -1 })]), /^report\.workers\[0\]\.cpu_pct: must be within/],
    ["GPU utilisation over 100", () => makeReport(1, [makeDevice("h", 0, { utilizationPct: 101 })], []), /^report\.devices\[0\]\.utilization_pct/],
    ["absurd memory", () => makeReport(1, [], [makeWorker("w", { memoryRssBytes: 2n ** 63n })]), /^report\.workers\[0\]\.memory_rss_bytes/],
    ["negative pid", () => makeReport(1, [], [makeWorker("w", { pid: -5 })]), /^report\.workers\[0\]\.pid/],
    ["duplicate device uuid", () => makeReport(1, [makeDevice("h", 0), makeDevice("h", 0)], []), /^report\.devices\[1\]\.uuid: duplicate/],
    ["too many devices", () => makeReport(1, Array.from({ length: 65 }, (_, i) => makeDevice("h", i)), []), /^report\.devices: at most 64/],
    ["infinite I/O rate", () => makeReport(1, [], [makeWorker("w", { ioReadBytesPerSec: Infinity })]), /^report\.workers\[0\]\.io_read_bytes_per_sec/],
  ];

  for (const [name, build, message] of badReports) {
    it(`rejects a report with ${name} before touching the registry`, async () => {
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

  it("caps the number of workers in a report", () => {
    const report = makeReport(1, [], Array.from({ length: 4097 }, (_, i) => makeWorker(`w${i}`)));
    expect(() => validateReport(report)).toThrow(/^\[invalid_argument\] report\.workers: at most 4096 entries allowed, got 4097/);
    report.workers.pop();
    expect(() => validateReport(report)).not.toThrow();
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
