import { create } from "@bufbuild/protobuf";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { HeartbeatRequestSchema, QueenService, type HeartbeatRequest } from "../../gen/apiary/v1/queen_pb.js";
import { PushQueue } from "../lib/push-queue.js";
import { preciseWallMs } from "../lib/stats.js";
import type { LoadCounters } from "./load-stats.js";
import { PendingAcks } from "./pending-acks.js";
import { encodeReport, preEncodedReportRequest } from "./report-encoder.js";
import type { SimulatedHive } from "./telemetry-model.js";

/** A simulated hive's state as the generator sees it. */
export interface BenchHive {
  readonly sim: SimulatedHive;
  readonly connected: boolean;
  /** Reports sent and not yet acknowledged. */
  outstanding(): number;
  /** Sends the next report now. */
  send(): void;
  /** Opens the stream (hello → welcome). */
  connect(): Promise<void>;
  /** Goodbye (or cancel) and wait, bounded. */
  close(goodbye: boolean): Promise<void>;
}

/** Anything that speaks apiary.v1.QueenService Heartbeat: the queen or the grpc-js ack server. */
export class ApiaryBenchHive implements BenchHive {
  private readonly client: Client<typeof QueenService>;
  private requests: PushQueue<HeartbeatRequest> | undefined;
  private abort: AbortController | undefined;
  private readonly awaitingAck = new PendingAcks();
  private reading: Promise<void> | undefined;
  connected = false;

  constructor(
    readonly sim: SimulatedHive,
    transport: Transport,
    private readonly counters: LoadCounters,
  ) {
    this.client = createClient(QueenService, transport);
  }

  outstanding(): number {
    return this.awaitingAck.outstanding();
  }

  async connect(): Promise<void> {
    this.requests = new PushQueue<HeartbeatRequest>();
    this.abort = new AbortController();
    this.awaitingAck.reset();
    const responses = this.client.heartbeat(this.requests, { signal: this.abort.signal })[Symbol.asyncIterator]();
    this.requests.push(
      create(HeartbeatRequestSchema, { kind: { case: "hello", value: { hive: this.sim.info, incarnation: `bench-${process.pid}-${this.sim.index}` } } }),
    );
    const first = await responses.next();
    if (first.done || first.value.kind.case !== "welcome") throw new Error(`hive ${this.sim.info.hiveId}: expected welcome`);
    this.connected = true;
    this.reading = this.readAcks(responses);
  }

  send(): void {
    if (!this.connected || !this.requests) return;
    const now = preciseWallMs();
    const bytes = encodeReport(this.sim.next(now));
    this.awaitingAck.sent();
    this.requests.push(preEncodedReportRequest(bytes));
    this.counters.sent++;
  }

  private async readAcks(responses: AsyncIterator<{ kind: { case: string | undefined } }>): Promise<void> {
    try {
      for (;;) {
        const next = await responses.next();
        if (next.done) break;
        if (next.value.kind.case !== "ack") continue;
        this.awaitingAck.acked(this.counters);
      }
    } catch {
      if (!this.abort?.signal.aborted) this.counters.streamErrors++;
    } finally {
      this.connected = false;
    }
  }

  async close(goodbye: boolean): Promise<void> {
    if (this.requests && this.connected && goodbye) {
      this.requests.push(create(HeartbeatRequestSchema, { kind: { case: "goodbye", value: { reason: "bench done" } } }));
    }
    this.requests?.end();
    const timer = setTimeout(() => this.abort?.abort(), 2_000);
    if (!goodbye) this.abort?.abort();
    await this.reading;
    clearTimeout(timer);
  }
}
