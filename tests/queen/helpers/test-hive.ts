import { randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import {
  HeartbeatRequestSchema,
  QueenService,
  type HeartbeatAck,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type HeartbeatWelcome,
} from "../../../gen/apiary/v1/queen_pb.js";
import type { HiveInfo, HiveReport } from "../../../gen/apiary/v1/telemetry_pb.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { AsyncQueue } from "./async-queue.js";
import { makeHiveInfo, syntheticReport, type SyntheticReportSpec } from "./telemetry-builders.js";

/**
 * A scripted hive: drives one Heartbeat stream over gRPC/HTTP2 and awaits each answer.
 * `TestHive.connect` sends the hello and waits for the welcome.
 */
export class TestHive {
  private seq = 0n;

  private constructor(
    readonly info: HiveInfo,
    readonly incarnation: string,
    private readonly requests: AsyncQueue<HeartbeatRequest>,
    private readonly responses: AsyncIterator<HeartbeatResponse>,
    private readonly abortController: AbortController,
    readonly welcome: HeartbeatWelcome,
  ) {}

  get hiveId(): string {
    return this.info.hiveId;
  }

  static async connect(
    target: string | Transport,
    hive: string | HiveInfo,
    opts: { incarnation?: string; client?: Client<typeof QueenService> } = {},
  ): Promise<TestHive> {
    const client = opts.client ?? createClient(QueenService, typeof target === "string" ? createApiaryTransport(target) : target);
    const info = typeof hive === "string" ? makeHiveInfo(hive) : hive;
    const incarnation = opts.incarnation ?? randomUUID();
    const requests = new AsyncQueue<HeartbeatRequest>();
    const abort = new AbortController();
    const responses = client.heartbeat(requests, { signal: abort.signal })[Symbol.asyncIterator]();
    requests.push(create(HeartbeatRequestSchema, { kind: { case: "hello", value: { hive: info, incarnation } } }));
    const first = await responses.next();
    if (first.done || first.value.kind.case !== "welcome") throw new Error(`expected welcome, got ${JSON.stringify(first.value)}`);
    return new TestHive(info, incarnation, requests, responses, abort, first.value.kind.value);
  }

  /** Sends a report (seq assigned when 0) and waits for its ack. */
  async report(report: HiveReport): Promise<HeartbeatAck> {
    if (report.seq === 0n) report.seq = ++this.seq;
    else this.seq = report.seq;
    this.send({ case: "report", value: report });
    const next = await this.responses.next();
    if (next.done || next.value.kind.case !== "ack") throw new Error(`expected ack, got ${next.done ? "end of stream" : next.value.kind.case}`);
    return next.value.kind.value;
  }

  /** Sends a synthetic report of N workers × G GPUs (see syntheticReport). */
  reportSynthetic(spec: Omit<SyntheticReportSpec, "hiveId" | "seq">): Promise<HeartbeatAck> {
    return this.report(syntheticReport({ ...spec, hiveId: this.hiveId, seq: this.seq + 1n }));
  }

  /** Sends any request without waiting (for bad-input tests). */
  send(kind: MessageInitShape<typeof HeartbeatRequestSchema>["kind"]): void {
    this.requests.push(create(HeartbeatRequestSchema, { kind }));
  }

  /** The next response, or the stream's end; rejects with the stream's error (a ConnectError). */
  next(): Promise<IteratorResult<HeartbeatResponse>> {
    return this.responses.next();
  }

  /** Clean shutdown: goodbye, close the send side, wait for the queen to end the stream. */
  async goodbye(reason = "test"): Promise<void> {
    this.send({ case: "goodbye", value: { reason } });
    this.requests.end();
    await this.drain();
  }

  /** Closes the send side without goodbye (a broken stream for the queen) and waits for the end. */
  async halfClose(): Promise<void> {
    this.requests.end();
    await this.drain();
  }

  /** Cancels the call (RST_STREAM), as a crashed or cut-off hive would. */
  abort(): void {
    this.abortController.abort();
    this.requests.end();
  }

  private async drain(): Promise<void> {
    for (;;) if ((await this.responses.next()).done) return;
  }
}
