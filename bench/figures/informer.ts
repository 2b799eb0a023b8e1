import { create, fromBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { QueenService, WorkerOrder } from "../../gen/apiary/v1/queen_pb.js";
import { EngineKind, EngineLoadSchema, HiveReportSchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { Informer } from "../../src/client/informer.js";
import type { PickPolicy } from "../../src/client/pick-policies.js";
import { startQueen, type Queen } from "../../src/queen/queen.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { figureResult, infoResult, type FigureResult } from "../lib/results.js";
import { summarize } from "../lib/stats.js";
import { encodeReport } from "../load/report-encoder.js";
import { modelName, SimulatedHive } from "../load/telemetry-model.js";
import type { FigureContext } from "./context.js";

const HOUR = 3_600_000;
const WORKERS_PER_HIVE = 8;

/**
 * The informer (src/client/informer.ts) at 10,000 workers: two queens in this process hold the
 * same hives (filled through their registries with the engine load of a busy cluster); the
 * informer watches the first. Timed: each pick() call alone (µs), pick + recordDispatch (what a
 * router does per request), find() over one model, catching up after every worker reported once,
 * and the time from the watched queen's shutdown to the informer holding the other queen's state.
 */
export async function informerFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const workers = f.num("inf-workers", 10_000);
  const models = f.num("inf-models", 1);
  const picks = f.num("inf-picks", 100_000);
  const runs = f.num("runs", 3);
  const hives = Math.ceil(workers / WORKERS_PER_HIVE);
  const shape = { workers: WORKERS_PER_HIVE, gpus: 2, models };
  const sims = Array.from({ length: hives }, (_, h) => new SimulatedHive(h, shape));
  const start = () => startQueen({ host: "127.0.0.1", port: 0, logger: pino({ level: "warn" }), healthyMs: HOUR, degradedMs: 2 * HOUR, shutdownGraceMs: 200 });
  const a = await start();
  const b = await start();
  const informers: Informer[] = [];
  try {
    for (const sim of sims) for (const q of [a, b]) q.registry.hello(sim.info, "bench");
    const reportAll = (queens: Queen[], tick: number) => {
      for (const sim of sims) {
        const report = sim.next(Date.now());
        report.workers.forEach((w, i) => (w.engineLoad = busyLoad(sim.index * WORKERS_PER_HIVE + i + tick)));
        const bytes = encodeReport(report);
        for (const q of queens) q.registry.applyReport(sim.info.hiveId, "bench", fromBinary(HiveReportSchema, bytes));
      }
    };
    reportAll([a, b], 0);
    const clients = [a, b].map((q) => createClient(QueenService, createApiaryTransport(q.url)));
    const t0 = performance.now();
    const informer = new Informer({ queens: clients });
    informers.push(informer);
    await informer.synced();
    const syncMs = performance.now() - t0;
    ctx.log(`  informer: ${informer.workerCount()} workers of ${models} model(s) on ${hives} hives, synced in ${syncMs.toFixed(0)} ms`);
    const model = modelName(0);

    const policies: [string, PickPolicy, boolean][] = [
      ["least-loaded", "least-loaded", false],
      ["least-loaded + recordDispatch", "least-loaded", true],
      ["most-free-vram", "most-free-vram", false],
      ["round-robin", "round-robin", false],
    ];
    const p99 = new Map<string, number[]>(policies.map(([name]) => [name, []]));
    const p50 = new Map<string, number[]>(policies.map(([name]) => [name, []]));
    const findP99: number[] = [];
    const catchUpMs: number[] = [];
    const ingestMs: number[] = [];
    const samples = new Float64Array(picks);
    for (let run = 0; run < runs; run++) {
      for (const [name, policy, dispatch] of policies) {
        for (let i = 0; i < 10_000; i++) informer.pick(model, policy); // warm-up: the JIT's first calls
        for (let i = 0; i < picks; i++) {
          const s = performance.now();
          const w = informer.pick(model, policy)!;
          if (dispatch) informer.recordDispatch(w);
          samples[i] = performance.now() - s;
        }
        const sum = summarize(samples);
        p99.get(name)!.push(sum.p99 * 1000);
        p50.get(name)!.push(sum.p50 * 1000);
      }
      const finds = new Float64Array(200);
      for (let i = 0; i < finds.length; i++) {
        const s = performance.now();
        informer.find({ model, limit: 10, order: WorkerOrder.LEAST_LOADED });
        finds[i] = performance.now() - s;
      }
      findP99.push(summarize(finds).p99);
      // Every worker reports once (new engine load): how long until the informer has applied it all.
      const r0 = performance.now();
      reportAll([a], run + 1);
      const c0 = performance.now();
      await informer.whenRevision(BigInt(a.registry.revision()));
      catchUpMs.push(performance.now() - c0);
      ingestMs.push(c0 - r0);
      ctx.log(
        `  run ${run + 1}: pick p99 ${policies.map(([n]) => `${n} ${p99.get(n)![run].toFixed(2)} µs`).join(", ")}; find p99 ${findP99[run].toFixed(2)} ms; ${workers} updates applied by the queen in ${ingestMs[run].toFixed(0)} ms, by the informer ${catchUpMs[run].toFixed(0)} ms later`,
      );
    }

    const aRevision = BigInt(a.registry.revision());
    const f0 = performance.now();
    await a.close();
    await informer.whenRevision(aRevision + 1n); // released by the end of B's snapshot
    const failoverMs = performance.now() - f0;
    const converged = informer.find({ model, limit: 1 }).totalMatches === (await clients[1].findWorkers({ model, limit: 1 })).totalMatches;
    ctx.log(`  failover: on queen ${informer.staleness().queen} with ${informer.workerCount()} workers ${failoverMs.toFixed(0)} ms after the watched queen began its shutdown (converged: ${converged})`);

    const what = `${informer.workerCount().toLocaleString("en-US")} workers of one model on ${hives.toLocaleString("en-US")} hives, each call timed alone, ${picks.toLocaleString("en-US")} calls per run`;
    return [
      figureResult({ figure: "informer", name: "informer pick(least-loaded) p99 at 10,000 workers", runs: p99.get("least-loaded")!, unit: "µs", goal: "< 10 µs", goalValue: 10, higherIsBetter: false, notes: `${what}; p50 ${fmtMedian(p50.get("least-loaded")!)} µs` }),
      ...policies.slice(1).map(([name]) => infoResult("informer", `informer pick(${name}) p99`, p99.get(name)!, "µs", `p50 ${fmtMedian(p50.get(name)!)} µs`)),
      infoResult("informer", "informer find(model, limit 10, LEAST_LOADED) p99", findP99, "ms", "a scan of the model's workers, as the queen's FindWorkers does"),
      infoResult("informer", "informer catch-up after every worker reported once", catchUpMs, "ms", "from the queen's last registry update (the 1,250 reports applied synchronously first) to the informer having applied it: Watch encoding, loopback, decoding, index; same process"),
      infoResult("informer", "informer first sync (snapshot)", [syncMs], "ms", `${informer.workerCount()} workers`),
      infoResult("informer", "informer convergence after the watched queen shuts down", [failoverMs], "ms", `from close() of the watched queen to the other queen's snapshot applied; converged: ${converged}`),
    ];
  } finally {
    for (const informer of informers) await informer.close();
    await a.close();
    await b.close();
  }
}

/** Engine load that differs between workers and ticks, with ties. */
function busyLoad(n: number) {
  const x = (n * 2654435761) >>> 0;
  return create(EngineLoadSchema, { kind: EngineKind.VLLM, requestsWaiting: x % 5, requestsRunning: (x >>> 3) % 16, kvCacheUsageRatio: ((x >>> 7) % 100) / 100 });
}

function fmtMedian(values: number[]): string {
  return [...values].sort((x, y) => x - y)[values.length >> 1].toFixed(2);
}
