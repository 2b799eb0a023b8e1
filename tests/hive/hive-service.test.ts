import { existsSync, readdirSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createHandlerContext, type Client } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HiveService, StopWorkerRequestSchema, WatchTelemetryRequestSchema } from "../../gen/apiary/v1/hive_pb.js";
import { GpuProbeState, WorkerState, type HiveReport } from "../../gen/apiary/v1/telemetry_pb.js";
import { startHive, type Hive } from "../../src/hive/hive.js";
import { createHiveService } from "../../src/hive/hive-service.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { demoWorker, fakeNvidiaSmi, gpuModeFile, tempDir } from "./hive-test-helpers.js";
import { waitUntil } from "../helpers/wait.js";

let hive: Hive;
let client: Client<typeof HiveService>;
let stateDir: string;

beforeAll(async () => {
  const dir = tempDir("apiary-hive-service-");
  process.env.FAKE_NVIDIA_SMI_MODE_FILE = gpuModeFile(dir).file;
  stateDir = `${dir}/state`;
  hive = await startHive({
    port: 0,
    hiveId: "service-test",
    nvidiaSmiPath: fakeNvidiaSmi,
    cgroupMode: "none",
    stateDir,
    tickIntervalMs: 200,
    logger: pino({ level: "silent" }),
  });
  client = createClient(HiveService, createApiaryTransport(hive.url));
  await waitUntil(() => hive.monitor.latest()?.devices.length === 2, "a first report with the fake GPUs");
});

afterAll(async () => {
  await hive?.close({ stopWorkers: true });
});

async function expectCode(call: Promise<unknown>, codes: Code[], field?: RegExp): Promise<ConnectError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(error, "the call should fail").toBeDefined();
  expect(codes).toContain(error!.code);
  if (field) expect(error!.rawMessage).toMatch(field);
  return error!;
}

describe("HiveService over gRPC", () => {
  it("spawns a worker, lists it as measured by the monitor, and stops it", async () => {
    const spawned = await client.spawnWorker({
      argv: [process.execPath, demoWorker, "--model", "demo-7b"],
      workerId: "svc-1",
      labels: { role: "test" },
    });
    expect(spawned.worker?.workerId).toBe("svc-1");
    expect(spawned.worker?.pid).toBeGreaterThan(0);

    await waitUntil(async () => {
      const list = await client.listWorkers({});
      return list.workers.some((w) => w.workerId === "svc-1" && w.state === WorkerState.RUNNING);
    }, "ListWorkers to show svc-1 running");
    const list = await client.listWorkers({});
    expect(list.hive?.hiveId).toBe("service-test");
    expect(list.hive?.endpoint).toBe(hive.url);
    const worker = list.workers.find((w) => w.workerId === "svc-1")!;
    expect(worker.model).toBe("demo-7b");
    expect(worker.labels).toEqual({ role: "test" });

    const stopped = await client.stopWorker({ workerId: "svc-1", gracePeriod: durationFromMs(5000) });
    expect([WorkerState.EXITED, WorkerState.FAILED]).toContain(stopped.worker?.state);
    const afterStop = (await client.listWorkers({})).workers.find((w) => w.workerId === "svc-1");
    if (afterStop) expect([WorkerState.EXITED, WorkerState.FAILED]).toContain(afterStop.state); // never RUNNING once stopped
    await waitUntil(async () => !(await client.listWorkers({})).workers.some((w) => w.workerId === "svc-1"), "svc-1 to leave ListWorkers");
  });

  it("refuses a program that does not exist and leaves nothing behind", async () => {
    const before = existsSync(stateDir) ? readdirSync(stateDir).sort() : [];
    await expectCode(
      client.spawnWorker({ argv: ["/nonexistent/llama-server-xyz"], workerId: "ghost" }),
      [Code.FailedPrecondition, Code.NotFound],
    );
    expect((await client.listWorkers({})).workers.some((w) => w.workerId === "ghost")).toBe(false);
    expect(existsSync(stateDir) ? readdirSync(stateDir).sort() : []).toEqual(before);
    await expectCode(client.stopWorker({ workerId: "ghost" }), [Code.NotFound]);
  });

  it("answers bad requests with INVALID_ARGUMENT naming the field", async () => {
    await expectCode(client.spawnWorker({ argv: [] }), [Code.InvalidArgument], /argv/);
    await expectCode(client.spawnWorker({ argv: ["true"], workerId: "../etc" }), [Code.InvalidArgument], /worker_id/);
    await expectCode(client.stopWorker({ workerId: "" }), [Code.InvalidArgument], /worker_id/);
    await expectCode(
      client.stopWorker(create(StopWorkerRequestSchema, { workerId: "x", gracePeriod: { seconds: -1n, nanos: 0 } })),
      [Code.InvalidArgument],
      /grace_period/,
    );
    await expectCode(client.stopWorker({ workerId: "x", gracePeriod: durationFromMs(2 * 3_600_000) }), [Code.InvalidArgument], /grace_period/);
  });

  it("streams every completed report to WatchTelemetry, GPU devices included", async () => {
    const seqs: bigint[] = [];
    let last: HiveReport | undefined;
    const abort = new AbortController();
    for await (const message of client.watchTelemetry({}, { signal: abort.signal })) {
      last = message.report;
      seqs.push(message.report!.seq);
      if (seqs.length >= 3 && last?.gpuProbe?.state === GpuProbeState.OK) break;
      if (seqs.length > 100) break;
    }
    abort.abort();
    expect(seqs[1]).toBeGreaterThan(seqs[0]);
    expect(seqs[2]).toBeGreaterThan(seqs[1]);
    expect(last?.devices).toHaveLength(2);
    expect(last?.gpuProbe?.state).toBe(GpuProbeState.OK);
    expect(last?.memoryAvailableBytes).toBeGreaterThan(0n);
  });

  it("keeps only the latest undelivered report for a watcher that stops reading", async () => {
    // The handler itself, on the hive's real monitor: through a network client the
    // transport's buffers would hide whether the handler queues reports.
    const service = createHiveService({
      workers: hive.supervisor,
      reports: hive.monitor,
      info: () => hive.info,
      shutdownSignal: new AbortController().signal,
    });
    const cancel = new AbortController();
    const context = createHandlerContext({
      service: HiveService,
      method: HiveService.method.watchTelemetry,
      protocolName: "test",
      requestMethod: "POST",
      url: `${hive.url}/apiary.v1.HiveService/WatchTelemetry`,
      requestSignal: cancel.signal,
    });
    const stream = service.watchTelemetry(create(WatchTelemetryRequestSchema), context)[Symbol.asyncIterator]();
    const first = (await stream.next()).value!.report!;
    const ticks = hive.monitor.ticks;
    await waitUntil(() => hive.monitor.ticks >= ticks + 5, "five more ticks while the watcher reads nothing");
    const next = (await stream.next()).value!.report!;
    expect(next.seq - first.seq).toBeGreaterThanOrEqual(5n); // the reports in between were replaced, not queued
    cancel.abort();
    expect((await stream.next()).done).toBe(true);
  });

  it("ends WatchTelemetry streams with UNAVAILABLE when the hive shuts down", async () => {
    const other = await startHive({
      port: 0,
      nvidiaSmiPath: fakeNvidiaSmi,
      gpuEnabled: false,
      cgroupMode: "none",
      stateDir: `${tempDir("apiary-hive-service-")}/state`,
      tickIntervalMs: 100,
      logger: pino({ level: "silent" }),
    });
    const watcher = createClient(HiveService, createApiaryTransport(other.url));
    const stream = watcher.watchTelemetry({})[Symbol.asyncIterator]();
    expect((await stream.next()).value?.report?.gpuProbe?.state).toBe(GpuProbeState.NOT_FOUND);
    const closed = other.close({ stopWorkers: true });
    const ending = (async () => {
      for (;;) if ((await stream.next()).done) return;
    })();
    const error = await ending.then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    await closed;
    expect(error?.code).toBe(Code.Unavailable);
  });
});
