import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { HeartbeatRequestSchema } from "../../gen/apiary/v1/queen_pb.js";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { BenchHive } from "./apiary-hive.js";
import type { LoadCounters } from "./load-stats.js";
import { encodeGrpcFrame } from "../../src/rpc/grpc-frame-reader.js";
import { PendingAcks } from "./pending-acks.js";
import { encodeReport } from "./report-encoder.js";
import { partialOf, type SimulatedHive } from "./telemetry-model.js";
import { HiveReportSchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { preciseWallMs } from "../lib/stats.js";

const HEARTBEAT_PATH = "/apiary.v1.QueenService/Heartbeat";

/**
 * One HTTP/2 connection (node:http2, h2c) carrying many hives' Heartbeat streams. Standard gRPC
 * framing written by hand: the generator's per-report cost is encoding the report and one frame
 * write, so on a 2-core machine the CPU goes to the server under test, not to client machinery.
 */
export class RawGrpcConnection {
  readonly session: http2.ClientHttp2Session;

  /** With `tls` (PEM CA, client certificate and key): h2 over TLS, each handshake's time pushed to handshakeMs. */
  constructor(address: string, tls?: { ca: string; cert: string; key: string }, handshakeMs?: number[]) {
    const started = performance.now();
    this.session = tls
      ? http2.connect(`https://${address}`, { settings: { initialWindowSize: 1024 * 1024 }, ...tls })
      : http2.connect(`http://${address}`, { settings: { initialWindowSize: 1024 * 1024 } });
    if (tls) this.session.once("connect", () => handshakeMs?.push(performance.now() - started));
    this.session.on("error", () => {});
    this.session.setMaxListeners(0);
  }

  close(): void {
    this.session.close();
    setTimeout(() => this.session.destroy(), 2_000).unref();
  }
}

/** HeartbeatRequest{report=2} around already-encoded report bytes, framed. */
export function reportFrame(report: Uint8Array): Buffer {
  const w = new BinaryWriter();
  w.tag(2, WireType.LengthDelimited).bytes(report);
  return encodeGrpcFrame(w.finish());
}

/** A simulated hive on a raw gRPC Heartbeat stream: hello, then framed reports; every response after the welcome is an ack. */
export class RawGrpcHive implements BenchHive {
  private stream: http2.ClientHttp2Stream | undefined;
  private readonly awaitingAck = new PendingAcks();
  private pending: Buffer = Buffer.alloc(0);
  private closing = false;
  private welcomed = false;
  private ended: Promise<void> | undefined;
  connected = false;

  constructor(
    readonly sim: SimulatedHive,
    private readonly connection: RawGrpcConnection,
    private readonly counters: LoadCounters,
    /** Send-on-change (see ClusterShape.changeFraction); unset: full reports. */
    private readonly changeFraction?: number,
  ) {}

  outstanding(): number {
    return this.awaitingAck.outstanding();
  }

  connect(): Promise<void> {
    this.awaitingAck.reset();
    this.sim.newStream();
    return new Promise((resolve, reject) => {
      const stream = this.connection.session.request({
        ":method": "POST",
        ":path": HEARTBEAT_PATH,
        "content-type": "application/grpc+proto",
        te: "trailers",
      });
      this.stream = stream;
      this.ended = new Promise((done) => stream.once("close", () => done()));
      let settled = false;
      stream.on("data", (chunk: Buffer) => {
        this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
        while (this.pending.length >= 5) {
          const length = this.pending.readUInt32BE(1);
          if (this.pending.length < 5 + length) break;
          this.pending = this.pending.subarray(5 + length);
          if (!this.welcomed) {
            this.welcomed = this.connected = true;
            settled = true;
            resolve();
            continue;
          }
          this.awaitingAck.acked(this.counters);
        }
      });
      stream.on("error", (err) => {
        if (!settled) reject(err);
      });
      stream.on("close", () => {
        if (this.connected && !this.closing) this.counters.streamErrors++;
        this.connected = false;
        if (!settled) reject(new Error(`hive ${this.sim.info.hiveId}: stream closed before welcome`));
      });
      const hello = create(HeartbeatRequestSchema, { kind: { case: "hello", value: { hive: this.sim.info, incarnation: `bench-${process.pid}-${this.sim.index}` } } });
      stream.write(encodeGrpcFrame(toBinary(HeartbeatRequestSchema, hello)));
    });
  }

  send(): void {
    if (!this.connected || !this.stream) return;
    const full = this.sim.next(preciseWallMs());
    const fraction = this.changeFraction;
    const partial = fraction === undefined ? undefined : partialOf(this.sim, fraction, Math.random);
    const bytes = partial ? toBinary(HiveReportSchema, partial) : encodeReport(full);
    this.awaitingAck.sent();
    this.stream.write(reportFrame(bytes));
    this.counters.sent++;
  }

  async close(goodbye: boolean): Promise<void> {
    this.closing = true;
    const stream = this.stream;
    if (!stream || stream.closed) return;
    if (goodbye && this.connected) {
      const bye = create(HeartbeatRequestSchema, { kind: { case: "goodbye", value: { reason: "bench done" } } });
      stream.end(encodeGrpcFrame(toBinary(HeartbeatRequestSchema, bye)));
    } else {
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 2_000);
    await this.ended;
    clearTimeout(timer);
  }
}
