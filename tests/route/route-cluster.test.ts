// The router fed by the informer of a real queen, with a real hive measuring demo workers in
// engine mode: it follows the engines' load as the hive reports it.
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { SpawnWorkerRequestSchema } from "../../gen/apiary/v1/hive_pb.js";
import { QueenService } from "../../gen/apiary/v1/queen_pb.js";
import type { HiveReport } from "../../gen/apiary/v1/telemetry_pb.js";
import { startHive, type Hive } from "../../src/hive/hive.js";
import { startQueen, type Queen } from "../../src/queen/queen.js";
import { startClusterRouter, type ClusterRouter } from "../../src/route/cluster-router.js";
import type { RouterOptions } from "../../src/route/router.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { demoWorker, tempDir } from "../hive/hive-test-helpers.js";
import { freePort } from "../../src/common/free-port.js";
import { waitFor } from "../helpers/wait.js";
import { post, quiet } from "./route-fixtures.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const TICK_MS = 250;

interface Cluster {
  queen: Queen;
  hive: Hive;
  router: ClusterRouter;
  ports: Record<string, number>;
  /** Sets a worker's simulated background load ("RUNNING,WAITING"). */
  setLoad(worker: string, load: string): Promise<void>;
  /** Resolves once the hive has made `n` more reports, the queen has applied them and the router's informer holds them. */
  reports(n: number): Promise<void>;
}

async function cluster(loads: Record<string, string>, routerOptions: Partial<RouterOptions> = {}): Promise<Cluster> {
  const queen = await startQueen({ port: 0, logger: quiet, reportIntervalMs: TICK_MS, shutdownGraceMs: 200 });
  cleanups.push(() => queen.close());
  const hive = await startHive({
    queenUrl: queen.url, port: 0, hiveId: "route-hive", gpuEnabled: false, cgroupMode: "none", stateDir: `${tempDir("apiary-route-")}/state`,
    tickIntervalMs: TICK_MS, reportIntervalMs: TICK_MS, engineScrapeDeadlineMs: 200, logger: quiet,
  });
  cleanups.push(() => hive.close({ stopWorkers: true }));
  const ports: Record<string, number> = {};
  for (const [workerId, load] of Object.entries(loads)) {
    const port = (ports[workerId] = await freePort());
    await hive.supervisor.spawn(create(SpawnWorkerRequestSchema, {
      workerId, model: "demo/llm",
      argv: [process.execPath, demoWorker, "--model", "demo/llm", "--engine", "vllm", "--engine-port", String(port), "--engine-load", load, "--token-ms", "1"],
      engineMetrics: { case: "engineMetricsPort", value: port },
    }));
  }
  const queenClient = createClient(QueenService, createApiaryTransport(queen.url));
  const router = await startClusterRouter({ queens: [queenClient], host: "127.0.0.1", port: 0, logger: quiet, ...routerOptions });
  cleanups.push(() => router.close());

  const acked: bigint[] = [];
  const delivered = hive.monitor.delivered.bind(hive.monitor);
  hive.monitor.delivered = (report: HiveReport) => {
    acked.push(report.seq);
    delivered(report);
  };
  const reports = async (n: number) => {
    const target = BigInt(hive.monitor.ticks) + BigInt(n);
    await waitFor(() => acked.some((seq) => seq >= target), `the queen acking report ${target}`, 15_000);
    // The queen applied the report before acking it; the informer holds it once it has that revision.
    const { revision } = await queenClient.findWorkers({ model: "demo/llm" });
    await router.informer.whenRevision(revision);
  };
  // Every worker routable, with an engine reading.
  await waitFor(() => router.informer.candidates("demo/llm").filter((w) => w.worker.engineLoad?.endpoint).length === Object.keys(loads).length, "the workers in the router's informer", 20_000);
  return { queen, hive, router, ports, reports, setLoad: async (worker, load) => {
    const res = await fetch(`http://127.0.0.1:${ports[worker]}/load`, { method: "POST", body: load });
    expect(res.status).toBe(204);
  } };
}

async function served(router: ClusterRouter, body: Record<string, unknown> = {}): Promise<string> {
  const res = await post(`${router.url}/v1/completions`, { model: "demo/llm", max_tokens: 1, ...body });
  expect(res.status, res.body.toString()).toBe(200);
  return String(res.headers["x-apiary-worker"]);
}

describe("apiary route over a live cluster", () => {
  it("routes to the least loaded worker, and avoids a worker whose load rises within two reports", async () => {
    const c = await cluster({ a: "1,0", b: "4,0" });
    await c.reports(1);
    expect(await served(c.router)).toBe("route-hive/a");
    expect(await served(c.router)).toBe("route-hive/a");

    await c.setLoad("a", "8,3");
    await c.reports(2);
    expect(await served(c.router)).toBe("route-hive/b");
    const models = (await (await fetch(`${c.router.url}/v1/models`)).json()) as { data: { id: string; workers: number }[] };
    expect(models.data).toEqual([expect.objectContaining({ id: "demo/llm", workers: 2 })]);
  });

  it("prefix affinity keeps one prefix on one worker until that worker is over the threshold", async () => {
    const c = await cluster({ a: "0,0", b: "0,0", c: "0,0" }, { prefixAffinity: true, prefixChars: 40, prefixMaxWaiting: 1 });
    await c.reports(1);
    const prompt = "You are a helpful assistant. Answer briefly.\n\nQ: ";
    const first = await served(c.router, { prompt: `${prompt}one` });
    for (const q of ["two", "three", "four", "five"]) expect(await served(c.router, { prompt: `${prompt}${q}` })).toBe(first);
    const metrics = await (await fetch(`${c.router.url}/metrics`)).text();
    expect(metrics).toMatch(/^apiary_route_picks_total\{reason="prefix"\} 5$/m);

    // Its worker starts queueing (2 waiting, over the threshold of 1): the prefix moves, and stays on its next worker.
    const held = first.slice("route-hive/".length);
    await c.setLoad(held, "16,2");
    await c.reports(2);
    const moved = await served(c.router, { prompt: `${prompt}six` });
    expect(moved).not.toBe(first);
    expect(await served(c.router, { prompt: `${prompt}seven` })).toBe(moved);
  });

  it("session affinity keeps one session header value on one worker whatever the load", async () => {
    const c = await cluster({ a: "0,0", b: "0,0" }, { sessionHeader: "x-session-id" });
    await c.reports(1);
    const worker = async (session: string) => String((await post(`${c.router.url}/v1/completions`, { model: "demo/llm", max_tokens: 1 }, { "x-session-id": session })).headers["x-apiary-worker"]);
    const first = await worker("s-1");
    await c.setLoad(first.slice("route-hive/".length), "9,0");
    await c.reports(2);
    expect(await worker("s-1")).toBe(first);
  });
});
