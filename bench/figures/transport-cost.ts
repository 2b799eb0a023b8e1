import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { HeartbeatRequestSchema } from "../../gen/apiary/v1/queen_pb.js";
import { sleep } from "../lib/args.js";
import { figureResult, infoResult, type FigureResult } from "../lib/results.js";
import { startGrpcAckServer, startQueenServer, type BenchServer } from "../lib/servers.js";
import { median } from "../lib/stats.js";
import { encodeGrpcFrame } from "../../src/rpc/grpc-frame-reader.js";
import { reportFrame } from "../load/raw-grpc-hive.js";
import { encodeReport } from "../load/report-encoder.js";
import { SimulatedHive } from "../load/telemetry-model.js";
import type { FigureContext } from "./context.js";

const HEARTBEAT_PATH = "/apiary.v1.QueenService/Heartbeat";
const HIVES_PER_CONNECTION = 100;

/**
 * The per-report cost of the Heartbeat transport, as CPU seconds of the server per acked report
 * under a closed loop (every hive sends its next report when the previous one is acked): CPU per
 * report stays meaningful on a machine others load, where open-loop latencies do not. Alternates
 * the queen with its raw gRPC path on and off (rawFastPaths: ["Watch"]: Heartbeat through connect-node), and the
 * grpc-js decode-and-ack server, in the same run.
 */
export async function transportCostFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const runs = f.num("tc-runs", 3);
  const opts = {
    hives: f.num("tc-hives", 200),
    warmupMs: f.num("tc-warmup-ms", 3_000),
    measureMs: f.num("tc-measure-ms", 6_000),
    workers: f.num("workers", 8),
    gpus: f.num("gpus", 2),
    models: f.num("models", 200),
  };
  const raw: number[] = [];
  const viaConnect: number[] = [];
  const grpcJs: number[] = [];
  const rates: Record<string, number[]> = { raw: [], connect: [], grpc: [] };
  for (let run = 0; run < runs; run++) {
    for (const mode of ["raw", "connect"] as const) {
      const m = await startQueenServer({ rawFastPaths: mode === "raw" ? true : ["Watch"] }, ctx.queenStart).then((server) => measure(server, opts));
      (mode === "raw" ? raw : viaConnect).push(m.cpuUsPerReport);
      rates[mode].push(m.ackRate);
      ctx.log(`  run ${run + 1}: queen (${mode === "raw" ? "raw gRPC path" : "connect-node"}): ${m.cpuUsPerReport.toFixed(0)} µs CPU per report, ${m.ackRate.toFixed(0)} reports/s, ${m.serverCpu.toFixed(2)} cores`);
    }
    const g = await measure(await startGrpcAckServer({ cpuProfileDir: ctx.profileDir }), opts);
    grpcJs.push(g.cpuUsPerReport);
    rates.grpc.push(g.ackRate);
    ctx.log(`  run ${run + 1}: grpc-js ack server: ${g.cpuUsPerReport.toFixed(0)} µs CPU per report, ${g.ackRate.toFixed(0)} reports/s, ${g.serverCpu.toFixed(2)} cores`);
  }
  const load = `closed loop, ${opts.hives} hives × 1 report in flight, ${opts.workers} workers × ${opts.gpus} GPUs`;
  return [
    figureResult({ figure: "transport-cost", name: "queen CPU per report, Heartbeat on the raw gRPC path", runs: raw, unit: "µs", goal: "≤ 150 µs", goalValue: 150, higherIsBetter: false, notes: `${load}; ${median(rates.raw).toFixed(0)} reports/s` }),
    infoResult("transport-cost", "same through connect-node (raw Heartbeat path off), alternating", viaConnect, "µs", `${median(rates.connect).toFixed(0)} reports/s; raw ÷ connect-node ${(median(raw) / median(viaConnect)).toFixed(2)}`),
    infoResult("transport-cost", "grpc-js decode-and-ack server, same loop", grpcJs, "µs", `${median(rates.grpc).toFixed(0)} reports/s; queen (raw) ÷ grpc-js ${(median(raw) / median(grpcJs)).toFixed(2)}`),
  ];
}

interface Measured {
  cpuUsPerReport: number;
  ackRate: number;
  serverCpu: number;
}

async function measure(server: BenchServer, o: { hives: number; warmupMs: number; measureMs: number; workers: number; gpus: number; models: number }): Promise<Measured> {
  const loop = new ClosedLoop(server.address, o.hives, { workers: o.workers, gpus: o.gpus, models: o.models });
  try {
    await loop.start();
    await sleep(o.warmupMs);
    const s0 = await server.stats();
    const a0 = loop.acked;
    const t0 = performance.now();
    await sleep(o.measureMs);
    const s1 = await server.stats();
    const acked = loop.acked - a0;
    const seconds = (performance.now() - t0) / 1000;
    const cpu = s1.cpuSeconds - s0.cpuSeconds;
    return { cpuUsPerReport: acked > 0 ? (cpu / acked) * 1e6 : NaN, ackRate: acked / seconds, serverCpu: cpu / seconds };
  } finally {
    loop.stop();
    await server.stop();
  }
}

/** Hives on raw HTTP/2 gRPC streams, each sending its next report as soon as the last one is acked. */
class ClosedLoop {
  acked = 0;
  private running = true;
  private readonly sessions: http2.ClientHttp2Session[] = [];

  constructor(
    private readonly address: string,
    private readonly hives: number,
    private readonly shape: { workers: number; gpus: number; models: number },
  ) {}

  async start(): Promise<void> {
    const welcomed: Promise<void>[] = [];
    for (let h = 0; h < this.hives; h++) {
      if (h % HIVES_PER_CONNECTION === 0) {
        const session = http2.connect(`http://${this.address}`, { settings: { initialWindowSize: 1024 * 1024 } });
        session.on("error", () => {});
        session.setMaxListeners(0);
        this.sessions.push(session);
      }
      welcomed.push(this.hive(this.sessions[this.sessions.length - 1], new SimulatedHive(h, this.shape)));
    }
    await Promise.all(welcomed);
  }

  stop(): void {
    this.running = false;
    for (const s of this.sessions) s.destroy();
  }

  private hive(session: http2.ClientHttp2Session, sim: SimulatedHive): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = session.request({ ":method": "POST", ":path": HEARTBEAT_PATH, "content-type": "application/grpc+proto", te: "trailers" });
      stream.on("error", () => {});
      stream.once("close", () => reject(new Error(`hive ${sim.info.hiveId}: stream closed`)));
      let pending: Buffer = Buffer.alloc(0);
      let welcomed = false;
      const send = (): void => {
        if (!this.running) return;
        stream.write(reportFrame(encodeReport(sim.next(Date.now()))));
      };
      stream.on("data", (chunk: Buffer) => {
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        while (pending.length >= 5) {
          const length = pending.readUInt32BE(1);
          if (pending.length < 5 + length) break;
          pending = pending.subarray(5 + length);
          if (welcomed) this.acked++;
          else {
            welcomed = true;
            resolve();
          }
          send();
        }
      });
      const hello = create(HeartbeatRequestSchema, { kind: { case: "hello", value: { hive: sim.info, incarnation: `tc-${process.pid}-${sim.index}` } } });
      stream.write(encodeGrpcFrame(toBinary(HeartbeatRequestSchema, hello)));
    });
  }
}
