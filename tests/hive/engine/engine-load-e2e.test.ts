// End to end: a queen, a hive, and demo workers in engine mode serving vLLM-format /metrics.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { HiveService, SpawnWorkerRequestSchema } from "../../../gen/apiary/v1/hive_pb.js";
import { FindWorkersRequestSchema, QueenService, WorkerOrder } from "../../../gen/apiary/v1/queen_pb.js";
import { EngineKind, type HiveReport } from "../../../gen/apiary/v1/telemetry_pb.js";
import { freePort } from "../../../src/common/free-port.js";
import { startHive, type Hive } from "../../../src/hive/hive.js";
import { startQueen, type Queen } from "../../../src/queen/queen.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { waitFor } from "../../helpers/wait.js";
import { demoWorker, tempDir } from "../hive-test-helpers.js";

const quiet = pino({ level: "silent" });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setLoad(port: number, load: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/load`, { method: "POST", body: load });
  expect(res.status).toBe(204);
}

/** Ticks of the default second; a scrape deadline above the default 300 ms, so that a loaded CI machine does not make the counted ticks miss. */
async function startPair(stateDir = `${tempDir("apiary-engine-")}/state`, tickIntervalMs = 1000): Promise<{ queen: Queen; hive: Hive }> {
  const queen = await startQueen({ port: 0, logger: quiet, reportIntervalMs: tickIntervalMs, shutdownGraceMs: 200 });
  cleanups.push(() => queen.close());
  const hive = await startHive({
    queenUrl: queen.url, port: 0, hiveId: "engine-hive", gpuEnabled: false, cgroupMode: "none", stateDir,
    tickIntervalMs, reportIntervalMs: tickIntervalMs, engineScrapeDeadlineMs: Math.min(700, tickIntervalMs * 0.7), logger: quiet,
  });
  cleanups.push(() => hive.close({ stopWorkers: true }));
  return { queen, hive };
}

function spawnEngineWorker(hive: Hive, workerId: string, port: number, load: string) {
  return hive.supervisor.spawn(
    create(SpawnWorkerRequestSchema, {
      workerId,
      model: "demo/llm",
      argv: [process.execPath, demoWorker, "--model", "demo/llm", "--engine", "vllm", "--engine-port", String(port), "--engine-load", load],
      engineMetrics: { case: "engineMetricsPort", value: port },
    }),
  );
}

describe("engine load end to end", () => {
  it("FindWorkers LEAST_LOADED returns the lighter worker first and follows a swap of loads within two ticks", async () => {
    const { queen, hive } = await startPair();
    const [portA, portB] = [await freePort(), await freePort()];
    await spawnEngineWorker(hive, "engine-e2e-a", portA, "1,0");
    await spawnEngineWorker(hive, "engine-e2e-b", portB, "6,4");
    const queenClient = createClient(QueenService, createApiaryTransport(queen.url));
    const order = async () =>
      (await queenClient.findWorkers(create(FindWorkersRequestSchema, { model: "demo/llm", order: WorkerOrder.LEAST_LOADED }))).matches.map((m) => [
        m.worker!.workerId,
        m.worker!.engineLoad?.requestsRunning,
        m.worker!.engineLoad?.requestsWaiting,
      ]);

    await waitFor(async () => JSON.stringify(await order()) === JSON.stringify([["engine-e2e-a", 1, 0], ["engine-e2e-b", 6, 4]]), "the light worker first", 30_000);
    const match = (await queenClient.findWorkers(create(FindWorkersRequestSchema, { model: "demo/llm", order: WorkerOrder.LEAST_LOADED }))).matches[0];
    expect(match.worker!.engineLoad).toMatchObject({ kind: EngineKind.VLLM, model: "demo/llm", stale: false, endpoint: `http://127.0.0.1:${portA}/metrics` });
    expect(match.worker!.engineLoad!.kvCacheUsageRatio).toBeCloseTo(0.05, 9);
    // The filters: only the light one has at most 1 waiting; both are under 0.5 KV.
    const filtered = await queenClient.findWorkers(create(FindWorkersRequestSchema, { model: "demo/llm", maxRequestsWaiting: 1, maxKvCacheUsageRatio: 0.5 }));
    expect(filtered.matches.map((m) => m.worker!.workerId)).toEqual(["engine-e2e-a"]);

    // Reports the queen acked, by seq: the queen has applied each before acking it.
    const acked: bigint[] = [];
    const delivered = hive.monitor.delivered.bind(hive.monitor);
    hive.monitor.delivered = (report: HiveReport) => {
      acked.push(report.seq);
      delivered(report);
    };
    const reports: HiveReport[] = [];
    hive.monitor.subscribe((r) => reports.push(r));

    await setLoad(portA, "7,5");
    await setLoad(portB, "0,0");
    const swappedAtTick = BigInt(hive.monitor.ticks);
    // The second tick that ends after the swap started its scrape after it: it must carry the new loads.
    const second = await waitFor(() => reports.find((r) => r.seq === swappedAtTick + 2n), "two ticks after the swap", 10_000);
    const loads = Object.fromEntries(second.workers.map((w) => [w.workerId, [w.engineLoad?.requestsRunning, w.engineLoad?.requestsWaiting]]));
    expect(loads).toEqual({ "engine-e2e-a": [7, 5], "engine-e2e-b": [0, 0] });
    await waitFor(() => acked.some((seq) => seq >= swappedAtTick + 2n), "the queen acking that report", 10_000);
    expect(await order()).toEqual([["engine-e2e-b", 0, 0], ["engine-e2e-a", 7, 5]]);
    // idle_only means no request running or waiting for workers with engine metrics.
    const idle = await queenClient.findWorkers(create(FindWorkersRequestSchema, { model: "demo/llm", idleOnly: true }));
    expect(idle.matches.map((m) => m.worker!.workerId)).toEqual(["engine-e2e-b"]);
    // Token rates come from counter deltas once there are two samples.
    expect(second.workers.find((w) => w.workerId === "engine-e2e-b")!.engineLoad!.generationTokensPerSec).toBeGreaterThanOrEqual(0);
  });

  it("rejects an endpoint that is not loopback or the hive's own, and keeps the endpoint of a re-adopted worker", async () => {
    const stateDir = `${tempDir("apiary-engine-")}/state`;
    const first = await startPair(stateDir, 200);
    const hiveClient = createClient(HiveService, createApiaryTransport(first.hive.url));
    const bad = await hiveClient
      .spawnWorker({ argv: [process.execPath, demoWorker], engineMetrics: { case: "engineMetricsUrl", value: "http://192.0.2.7:8000/metrics" } })
      .catch((e: unknown) => ConnectError.from(e));
    expect(bad).toBeInstanceOf(ConnectError);
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    expect((bad as ConnectError).rawMessage).toMatch(/^engine_metrics_url: host 192.0.2.7 is neither loopback/);

    const port = await freePort();
    await spawnEngineWorker(first.hive, "engine-e2e-readopt", port, "2,3");
    await waitFor(() => first.hive.monitor.latest()?.workers.find((w) => w.engineLoad?.requestsWaiting === 3), "a first engine sample");
    await first.hive.close({ stopWorkers: false });

    const hive = await startHive({ port: 0, hiveId: "engine-hive-2", gpuEnabled: false, cgroupMode: "none", stateDir, tickIntervalMs: 200, logger: quiet });
    cleanups.push(() => hive.close({ stopWorkers: true }));
    const readopted = await waitFor(() => hive.monitor.latest()?.workers.find((w) => w.workerId === "engine-e2e-readopt" && w.engineLoad), "the re-adopted worker's engine load");
    expect(readopted.engineLoad).toMatchObject({ requestsRunning: 2, requestsWaiting: 3, endpoint: `http://127.0.0.1:${port}/metrics` });
  });
});
