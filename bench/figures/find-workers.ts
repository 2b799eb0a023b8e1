import { create, fromBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { FindWorkersRequestSchema, QueenService, WorkerOrder, type FindWorkersRequest } from "../../gen/apiary/v1/queen_pb.js";
import { HiveReportSchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { findWorkers } from "../../src/queen/scheduling/find-workers.js";
import { startQueen } from "../../src/queen/queen.js";
import { validateFindWorkers } from "../../src/queen/request-validation.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { figureResult, infoResult, type FigureResult } from "../lib/results.js";
import { median, summarize } from "../lib/stats.js";
import { encodeReport } from "../load/report-encoder.js";
import { SimulatedHive, modelName } from "../load/telemetry-model.js";
import type { FigureContext } from "./context.js";
import { findWorkersLoops } from "./find-workers-loops.js";

const GiB = 1024n ** 3n;

/**
 * FindWorkers on a full registry: a queen started in this process (port 0, huge liveness
 * thresholds so nothing ages out), filled through its registry with decoded reports, then timed
 * server-side (the query function on the registry) and end to end (RPC over loopback, client in
 * this process, one call at a time).
 */
export async function findWorkersFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const hives = f.num("fw-hives", 10_000);
  const shape = { workers: f.num("workers", 8), gpus: f.num("gpus", 2), models: f.num("models", 200) };
  const limit = f.num("fw-limit", 10);
  const minFree = BigInt(f.num("fw-min-free-gib", 32)) * GiB;
  const calls = f.num("fw-calls", 1_000);
  const scans = f.num("fw-scans", 100);
  const runs = f.num("runs", 3);
  const hour = 3_600_000;
  const queen = await startQueen({ host: "127.0.0.1", port: 0, logger: pino({ level: "warn" }), healthyMs: hour, degradedMs: 2 * hour, shutdownGraceMs: 1_000 });
  try {
    for (let h = 0; h < hives; h++) {
      const sim = new SimulatedHive(h, shape);
      queen.registry.hello(sim.info, "bench");
      queen.registry.applyReport(sim.info.hiveId, "bench", fromBinary(HiveReportSchema, encodeReport(sim.next(Date.now()))));
    }
    ctx.log(`  registry: ${queen.registry.hiveCount()} hives, ${queen.registry.workerCount()} workers, ${shape.models} models`);
    const modelReq = (i: number): FindWorkersRequest =>
      create(FindWorkersRequestSchema, { model: modelName((i * 7919) % shape.models), minFreeVramBytes: minFree, limit, order: WorkerOrder.MOST_FREE_VRAM });
    const scanReq = create(FindWorkersRequestSchema, { minFreeVramBytes: minFree, limit, order: WorkerOrder.MOST_FREE_VRAM });

    // The plain-loop rendering must agree with the queen before its timings mean anything.
    for (const req of [modelReq(1), modelReq(2), scanReq]) {
      const a = findWorkers(queen.registry, req);
      const b = findWorkersLoops(queen.registry, req);
      const ids = (xs: { hiveId: string; workerId: string }[]) => xs.map((x) => `${x.hiveId}/${x.workerId}`).join(",");
      if (a.totalMatches !== b.total || ids(a.matches.map((m) => ({ hiveId: m.hiveId, workerId: m.worker!.workerId }))) !== ids(b.top)) {
        throw new Error("find-workers-loops disagrees with src/queen/scheduling/find-workers.ts");
      }
    }
    const loopModelP99: number[] = [];
    const loopScanP99: number[] = [];
    const serverP99: number[] = [];
    const scanP99: number[] = [];
    const e2eP50: number[] = [];
    const e2eP99: number[] = [];
    let matches = 0;
    let scanMatches = 0;
    const client = createClient(QueenService, createApiaryTransport(queen.url));
    for (let run = 0; run < runs; run++) {
      const server: number[] = [];
      for (let i = 0; i < calls; i++) {
        const req = modelReq(i);
        const t0 = performance.now();
        validateFindWorkers(req);
        const res = findWorkers(queen.registry, req);
        server.push(performance.now() - t0);
        matches = res.totalMatches;
      }
      const scan: number[] = [];
      for (let i = 0; i < scans; i++) {
        const t0 = performance.now();
        const res = findWorkers(queen.registry, scanReq);
        scan.push(performance.now() - t0);
        scanMatches = res.totalMatches;
      }
      const loopModel: number[] = [];
      for (let i = 0; i < calls; i++) {
        const t0 = performance.now();
        findWorkersLoops(queen.registry, modelReq(i));
        loopModel.push(performance.now() - t0);
      }
      const loopScan: number[] = [];
      for (let i = 0; i < scans; i++) {
        const t0 = performance.now();
        findWorkersLoops(queen.registry, scanReq);
        loopScan.push(performance.now() - t0);
      }
      loopModelP99.push(summarize(loopModel).p99);
      loopScanP99.push(summarize(loopScan).p99);
      const e2e: number[] = [];
      for (let i = 0; i < calls; i++) {
        const t0 = performance.now();
        await client.findWorkers(modelReq(i));
        e2e.push(performance.now() - t0);
      }
      const s = summarize(server);
      const sc = summarize(scan);
      const e = summarize(e2e);
      serverP99.push(s.p99);
      scanP99.push(sc.p99);
      e2eP50.push(e.p50);
      e2eP99.push(e.p99);
      ctx.log(`  run ${run + 1}: model filter server p50 ${s.p50.toFixed(3)} p99 ${s.p99.toFixed(3)} ms; full scan p50 ${sc.p50.toFixed(2)} p99 ${sc.p99.toFixed(2)} ms; RPC p50 ${e.p50.toFixed(3)} p99 ${e.p99.toFixed(3)} ms; plain loops: model p99 ${loopModelP99[run].toFixed(3)} ms, scan p99 ${loopScanP99[run].toFixed(2)} ms`);
    }
    const what = `${hives.toLocaleString("en-US")} hives / ${queen.registry.workerCount().toLocaleString("en-US")} workers / ${shape.models} models, min_free_vram ${minFree / GiB} GiB, limit ${limit}, MOST_FREE_VRAM`;
    return [
      figureResult({ figure: "find-workers", name: "FindWorkers model + min_free_vram, server-side p99", runs: serverP99, unit: "ms", goal: "< 1 ms", goalValue: 1, higherIsBetter: false, notes: `${what}; ~${matches} matches per model` }),
      figureResult({ figure: "find-workers", name: "FindWorkers model + min_free_vram, end-to-end RPC p50 (loopback)", runs: e2eP50, unit: "ms", goal: "< 2 ms", goalValue: 2, higherIsBetter: false, notes: `connect-node gRPC client in the queen's process; RPC p99 ${median(e2eP99).toFixed(2)} ms` }),
      figureResult({ figure: "find-workers", name: "FindWorkers without model (full scan), server-side p99", runs: scanP99, unit: "ms", goal: "< 25 ms", goalValue: 25, higherIsBetter: false, notes: `${scanMatches.toLocaleString("en-US")} of the workers match min_free_vram` }),
      infoResult("find-workers", "same query as plain loops (bench/figures/find-workers-loops.ts), model filter p99", loopModelP99, "ms", "the same query over telemetry messages per hive (free VRAM converted per query), against the queen's scheduling entries"),
      infoResult("find-workers", "same query as plain loops, full scan p99", loopScanP99, "ms", "identical totals and top-k checked against the queen's answer"),
    ];
  } finally {
    await queen.close();
  }
}
