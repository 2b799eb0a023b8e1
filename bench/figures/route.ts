import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import * as http from "node:http";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { SpawnWorkerRequestSchema } from "../../gen/apiary/v1/hive_pb.js";
import { QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { startHive } from "../../src/hive/hive.js";
import { startQueen } from "../../src/queen/queen.js";
import { startClusterRouter } from "../../src/route/cluster-router.js";
import type { RouterOptions } from "../../src/route/router.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { freePort } from "../../src/common/free-port.js";
import { sleep } from "../lib/args.js";
import { forkBench, stopChild, track } from "../lib/children.js";
import { figureResult, infoResult, type FigureResult } from "../lib/results.js";
import { summarize, type LatencySummary } from "../lib/stats.js";
import type { FigureContext } from "./context.js";

const DEMO_WORKER = new URL("../../examples/demo-worker/demo-worker.mjs", import.meta.url).pathname;
const quiet = pino({ level: "silent" });

/**
 * `apiary route`: (1) the latency it adds over calling a worker directly, open loop at a fixed
 * rate, (2) requests/s through one router process, closed loop, (3) p99 time to first token
 * under a skewed cluster (workers with unequal background load, prompts sharing a few system
 * prompts) for round-robin, least-loaded and least-loaded + prefix affinity, with a real queen
 * and hive reporting every second.
 */
export async function routeFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const rate = f.num("route-rate", 1000);
  const seconds = f.num("route-seconds", 5);
  const results: FigureResult[] = [];

  // (1) and (2): one demo worker, the router in its own process.
  const worker = await demoWorker(["--engine-load", "0,0"]);
  const routerChild = forkBench("figures/route-child.ts", [JSON.stringify([{ key: "bench/w1", baseUrl: worker.url }])]);
  const [{ port }] = (await once(routerChild, "message")) as [{ port: number }];
  const routed = `http://127.0.0.1:${port}/v1/embeddings`;
  const direct = `${worker.url}/v1/embeddings`;
  try {
    await openLoop(routed, rate, 1); // warm-up: JIT, kept-alive connections
    await openLoop(direct, rate, 1);
    const d = await openLoop(direct, rate, seconds);
    const r = await openLoop(routed, rate, seconds);
    const added = { p50: r.latency.p50 - d.latency.p50, p99: r.latency.p99 - d.latency.p99 };
    ctx.log(`  ${rate} req/s for ${seconds} s: direct p50 ${d.latency.p50.toFixed(3)} ms p99 ${d.latency.p99.toFixed(3)} ms (${d.errors} errors); through the router p50 ${r.latency.p50.toFixed(3)} ms p99 ${r.latency.p99.toFixed(3)} ms (${r.errors} errors)`);
    results.push(figureResult({ figure: "route", name: `router's added latency p99 at ${rate} req/s`, runs: [added.p99], unit: "ms", goal: "< 1 ms", goalValue: 1, higherIsBetter: false, notes: `p50 +${added.p50.toFixed(3)} ms; direct p99 ${d.latency.p99.toFixed(2)} ms, routed ${r.latency.p99.toFixed(2)} ms; embeddings of one demo worker` }));
    const concurrency = f.num("route-concurrency", 64);
    const throughputDirect = await closedLoop(direct, concurrency, seconds);
    const throughput = await closedLoop(routed, concurrency, seconds);
    ctx.log(`  closed loop, ${concurrency} concurrent: ${throughput.toFixed(0)} req/s through the router (${throughputDirect.toFixed(0)} req/s direct)`);
    results.push(infoResult("route", "requests/s through one router process", [throughput], "req/s", `${concurrency} concurrent; the worker alone answers ${throughputDirect.toFixed(0)} req/s; client, router and worker share the machine`));
  } finally {
    await stopChild(routerChild);
    worker.child.kill("SIGKILL");
  }

  // (3): time to first token under skew.
  const ttft = await skewedTtft(ctx);
  for (const [policy, s] of Object.entries(ttft)) {
    ctx.log(`  ${policy}: TTFT p50 ${s.p50.toFixed(0)} ms, p99 ${s.p99.toFixed(0)} ms (${s.count} requests)`);
  }
  const rr = ttft["round-robin"].p99;
  results.push(figureResult({ figure: "route", name: "TTFT p99 under skew, least-loaded ÷ round-robin", runs: [ttft["least-loaded"].p99 / rr], unit: "×", goal: "< 1 (least-loaded beats round-robin)", goalValue: 1, higherIsBetter: false, notes: `round-robin ${rr.toFixed(0)} ms, least-loaded ${ttft["least-loaded"].p99.toFixed(0)} ms` }));
  results.push(infoResult("route", "TTFT p99 under skew, least-loaded + prefix affinity", [ttft["least-loaded+prefix"].p99], "ms", `p50 ${ttft["least-loaded+prefix"].p50.toFixed(0)} ms; round-robin p50 ${ttft["round-robin"].p50.toFixed(0)} ms, least-loaded p50 ${ttft["least-loaded"].p50.toFixed(0)} ms`));
  ctx.extras.route = { ttft };
  return results;
}

async function demoWorker(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = track(spawn(process.execPath, [DEMO_WORKER, "--model", "bench", "--engine", "vllm", "--engine-port", "0", ...args], { stdio: ["ignore", "pipe", "inherit"] }));
  let out = "";
  for await (const chunk of child.stdout!) {
    out += String(chunk);
    const m = /metrics=(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
    if (m) {
      child.stdout!.resume();
      return { child, url: m[1] };
    }
  }
  throw new Error(`demo worker exited: ${out}`);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

function request(url: string, body: string, onFirstByte?: () => void): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      res.once("data", () => onFirstByte?.());
      res.on("data", () => {});
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", () => resolve(0));
    });
    req.on("error", () => resolve(0));
    req.end(body);
  });
}

const EMBED = JSON.stringify({ model: "bench", input: "hello" });

/** `rate` requests per second for `seconds`, sent on a clock (not when the previous returns). */
async function openLoop(url: string, rate: number, seconds: number): Promise<{ latency: LatencySummary; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  const total = Math.round(rate * seconds);
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const t0 = performance.now();
    pending.push(request(url, EMBED).then((status) => {
      if (status === 200) latencies.push(performance.now() - t0);
      else errors++;
    }));
  }
  await Promise.all(pending);
  return { latency: summarize(latencies), errors };
}

async function closedLoop(url: string, concurrency: number, seconds: number): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) if ((await request(url, EMBED)) === 200) done++;
  }));
  return done / seconds;
}

/** One cluster, three routers in turn, the same workload each: TTFT summaries by policy. */
async function skewedTtft(ctx: FigureContext): Promise<Record<string, LatencySummary>> {
  const f = ctx.flags;
  const seconds = f.num("route-ttft-seconds", 20);
  const rate = f.num("route-ttft-rate", 14);
  const queen = await startQueen({ port: 0, logger: quiet });
  const hive = await startHive({ queenUrl: queen.url, port: 0, hiveId: "bench-route", gpuEnabled: false, cgroupMode: "none", stateDir: `/tmp/apiary-bench-route-${process.pid}`, logger: quiet });
  const backgrounds = ["3,0", "2,0", "0,0", "0,0"];
  try {
    for (let i = 0; i < backgrounds.length; i++) {
      const port = await freePort();
      await hive.supervisor.spawn(create(SpawnWorkerRequestSchema, {
        workerId: `w${i + 1}`, model: "bench",
        argv: [process.execPath, DEMO_WORKER, "--model", "bench", "--engine", "vllm", "--engine-port", String(port), "--engine-load", backgrounds[i], "--token-ms", "10", "--max-running", "4", "--prefill-ms", "80"],
        engineMetrics: { case: "engineMetricsPort", value: port },
      }));
    }
    const queenClient = createClient(QueenService, createApiaryTransport(queen.url));
    const policies: Record<string, Partial<RouterOptions>> = {
      "round-robin": { policy: "round-robin" },
      "least-loaded": { policy: "least-loaded" },
      "least-loaded+prefix": { policy: "least-loaded", prefixAffinity: true, prefixChars: 64, prefixMaxWaiting: 0 },
    };
    const out: Record<string, LatencySummary> = {};
    for (const [name, options] of Object.entries(policies)) {
      const router = await startClusterRouter({ queens: [queenClient], host: "127.0.0.1", port: 0, logger: quiet, ...options });
      try {
        await router.informer.synced();
        const ready = () => router.informer.candidates("bench").filter((w) => w.worker.engineLoad?.endpoint && !w.worker.engineLoad.stale).length === backgrounds.length;
        for (let t = 0; t < 300 && !ready(); t++) await sleep(100);
        if (!ready()) throw new Error("the workers' engine loads did not reach the router within 30 s");
        out[name] = await ttftLoad(`${router.url}/v1/chat/completions`, rate, seconds).catch((err: Error) => {
          const hives = [...router.informer.hives()].map((h) => `${h.hiveId} health ${h.health}`);
          throw new Error(`${name}: ${err.message} (${hives.join(", ")}; ${router.informer.candidates("bench").length} candidates)`);
        });
      } finally {
        await router.close();
      }
      await sleep(1500); // the engines drain what was sent
    }
    return out;
  } finally {
    await hive.close({ stopWorkers: true });
    await queen.close();
  }
}

/**
 * Streamed chats at `rate`/s: 160 system prompts, the first ones more often (Zipf, s = 0.5), each
 * with its own question. More prompts than one worker's prefix cache holds (64): spread over every
 * worker they miss its cache more often than kept on one worker each.
 */
async function ttftLoad(url: string, rate: number, seconds: number): Promise<LatencySummary> {
  const systems = Array.from({ length: 160 }, (_, i) => `You are assistant number ${i}. Answer in the style of bee ${i}, briefly and kindly.`);
  const weights = systems.map((_, i) => 1 / Math.sqrt(i + 1));
  const sum = weights.reduce((a, b) => a + b, 0);
  let seed = 7;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const choose = () => {
    let x = random() * sum;
    for (let i = 0; i < weights.length; i++) if ((x -= weights[i]) <= 0) return i;
    return weights.length - 1;
  };
  const ttfts: number[] = [];
  const statuses: Record<number, number> = {};
  const pending: Promise<unknown>[] = [];
  const start = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    const body = JSON.stringify({ model: "bench", stream: true, max_tokens: 16, messages: [{ role: "system", content: systems[choose()] }, { role: "user", content: `question ${i}` }] });
    const t0 = performance.now();
    let first = NaN;
    pending.push(request(url, body, () => (first = performance.now() - t0)).then((status) => {
      if (status === 200) ttfts.push(first);
      else statuses[status] = (statuses[status] ?? 0) + 1;
    }));
  }
  await Promise.all(pending);
  if (Object.keys(statuses).length > 0) throw new Error(`requests failed: ${JSON.stringify(statuses)}`);
  return summarize(ttfts);
}

