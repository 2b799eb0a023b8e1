import * as http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeartbeatRequestSchema, HeartbeatResponseSchema, type HeartbeatRequest, type HeartbeatResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { encodeGrpcFrame, GrpcFrameReader } from "../../../src/rpc/grpc-frame-reader.js";
import type { Queen } from "../../../src/queen/queen.js";
import { waitUntil } from "../../helpers/wait.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { makeHiveInfo, syntheticReport } from "../helpers/telemetry-builders.js";
import { TestHive } from "../helpers/test-hive.js";

// QueenService/Heartbeat for gRPC clients is served on raw HTTP/2 streams (src/rpc/raw-grpc-stream.ts):
// real gRPC stacks, hand-cut frames, limits, deadlines and cancellation against a real queen.
const PATH = "/apiary.v1.QueenService/Heartbeat";
const MAX_MESSAGE_BYTES = 64 * 1024;
let queen: Queen;
beforeAll(async () => {
  ({ queen } = await startTestQueen({ maxMessageBytes: MAX_MESSAGE_BYTES }));
});
afterAll(async () => {
  await queen?.close();
});

const hello = (hiveId: string): HeartbeatRequest => create(HeartbeatRequestSchema, { kind: { case: "hello", value: { hive: makeHiveInfo(hiveId), incarnation: `inc-${hiveId}` } } });
const report = (hiveId: string, seq: number, workers = 3): HeartbeatRequest =>
  create(HeartbeatRequestSchema, { kind: { case: "report", value: syntheticReport({ hiveId, seq, workers, gpus: 2, tick: seq }) } });
const frame = (m: HeartbeatRequest): Buffer => encodeGrpcFrame(toBinary(HeartbeatRequestSchema, m));

/** A grpc-js Heartbeat call with awaitable responses and status. */
function grpcJsHeartbeat(client: grpc.Client, options: grpc.CallOptions = {}) {
  const call = client.makeBidiStreamRequest(
    PATH,
    (m: HeartbeatRequest) => Buffer.from(toBinary(HeartbeatRequestSchema, m)),
    (b: Buffer) => fromBinary(HeartbeatResponseSchema, b),
    new grpc.Metadata(),
    options,
  );
  const responses: HeartbeatResponse[] = [];
  let notify: (() => void) | undefined;
  call.on("data", (m: HeartbeatResponse) => {
    responses.push(m);
    notify?.();
  });
  call.on("error", () => {}); // the status below tells
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  const received = async (n: number): Promise<HeartbeatResponse[]> => {
    while (responses.length < n) await new Promise<void>((resolve) => (notify = resolve));
    return responses.slice(0, n);
  };
  return { call, status, received };
}

interface RawOutcome {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  responses: HeartbeatResponse[];
  status: string | undefined;
  message: string | undefined;
}

/** Writes the chunks one by one (each flushed before the next) on a bare HTTP/2 stream, then reads to the end. */
async function rawHeartbeat(chunks: Uint8Array[], opts: { end?: boolean; headers?: http2.OutgoingHttpHeaders; stopAfter?: number } = {}): Promise<RawOutcome> {
  const session = http2.connect(queen.url);
  try {
    const req = session.request({ ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers", ...opts.headers });
    const outcome: RawOutcome = { headers: {}, trailers: {}, responses: [], status: undefined, message: undefined };
    const reader = new GrpcFrameReader(1 << 20);
    const payloads: Uint8Array[] = [];
    req.on("response", (h) => (outcome.headers = h));
    req.on("trailers", (t) => (outcome.trailers = t));
    const closed = new Promise<void>((resolve) => req.on("close", resolve));
    req.on("data", (chunk: Buffer) => {
      reader.push(chunk, payloads);
      if (opts.stopAfter !== undefined && payloads.length >= opts.stopAfter) req.end();
    });
    req.on("error", () => {});
    // The queen's trailers end the call, as for any gRPC client: stop sending.
    req.on("end", () => req.close());
    for (const chunk of chunks) await new Promise<void>((resolve) => req.write(chunk, () => resolve()));
    if (opts.end !== false && opts.stopAfter === undefined) req.end();
    await closed;
    outcome.responses = payloads.map((p) => fromBinary(HeartbeatResponseSchema, p));
    const end = outcome.trailers["grpc-status"] !== undefined ? outcome.trailers : outcome.headers;
    outcome.status = end["grpc-status"] as string | undefined;
    outcome.message = end["grpc-message"] === undefined ? undefined : decodeURIComponent(String(end["grpc-message"]));
    return outcome;
  } finally {
    session.close();
  }
}

describe("raw gRPC Heartbeat", () => {
  it("serves @grpc/grpc-js: hello, reports, goodbye, OK", async () => {
    const client = new grpc.Client(queen.url.replace("http://", ""), grpc.credentials.createInsecure());
    try {
      const { call, status, received } = grpcJsHeartbeat(client);
      call.write(hello("g-raw"));
      for (let seq = 1; seq <= 5; seq++) call.write(report("g-raw", seq));
      const got = await received(6);
      expect(got[0].kind.case).toBe("welcome");
      expect(got.slice(1).map((r) => (r.kind.case === "ack" ? r.kind.value.seq : undefined))).toEqual([1n, 2n, 3n, 4n, 5n]);
      const record = queen.registry.hive("g-raw")!;
      expect(record.lastSeq).toBe(5n);
      expect([...record.workers.keys()].sort()).toEqual(["w0", "w1", "w2"]);
      call.write(create(HeartbeatRequestSchema, { kind: { case: "goodbye", value: { reason: "done" } } }));
      call.end();
      expect((await status).code).toBe(grpc.status.OK);
      expect(queen.registry.hive("g-raw")).toBeUndefined();
    } finally {
      client.close();
    }
  });

  it("serves the hive's own connect-node gRPC client", async () => {
    const hive = await TestHive.connect(queen.url, "g-connect");
    for (let i = 1; i <= 3; i++) expect((await hive.reportSynthetic({ workers: 2, gpus: 1, tick: i })).seq).toBe(BigInt(i));
    await hive.goodbye();
    expect(queen.registry.hive("g-connect")).toBeUndefined();
  });

  it("reads frames split across chunks and several frames in one chunk", async () => {
    const h = frame(hello("g-split"));
    const r1 = frame(report("g-split", 1));
    const r2 = frame(report("g-split", 2));
    const r3 = frame(report("g-split", 3));
    const chunks = [h.subarray(0, 2), h.subarray(2, 7), h.subarray(7), r1.subarray(0, 100), Buffer.concat([r1.subarray(100), r2, r3.subarray(0, 3)]), r3.subarray(3)];
    const out = await rawHeartbeat(chunks, { stopAfter: 4 });
    expect(out.headers[":status"]).toBe(200);
    expect(out.headers["content-type"]).toBe("application/grpc+proto");
    expect(out.responses.map((r) => r.kind.case)).toEqual(["welcome", "ack", "ack", "ack"]);
    expect(out.responses.map((r) => (r.kind.case === "ack" ? r.kind.value.seq : 0n))).toEqual([0n, 1n, 2n, 3n]);
    expect(out.status).toBe("0");
  });

  it("answers RESOURCE_EXHAUSTED to a message above the limit, and the hive is not kept", async () => {
    const client = new grpc.Client(queen.url.replace("http://", ""), grpc.credentials.createInsecure());
    try {
      const { call, status, received } = grpcJsHeartbeat(client);
      call.write(hello("g-big"));
      await received(1);
      call.write(report("g-big", 1, 2_000)); // ~120 KB
      const end = await status;
      expect(end.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(end.details).toMatch(/larger than configured readMaxBytes 65536/);
      await waitUntil(() => queen.registry.hive("g-big")?.connected === false, "the hive marked disconnected");
    } finally {
      client.close();
    }
    // Refused from the frame header: the payload is never sent.
    const header = Buffer.alloc(5);
    header.writeUInt32BE(10 * 1024 * 1024, 1);
    const out = await rawHeartbeat([frame(hello("g-big2")), header], { end: false });
    expect(out.status).toBe(String(grpc.status.RESOURCE_EXHAUSTED));
  });

  it("answers INTERNAL to a compressed message without a negotiated grpc-encoding", async () => {
    const bad = frame(hello("g-zip"));
    bad[0] = 1;
    const out = await rawHeartbeat([bad]);
    expect(out.status).toBe(String(grpc.status.INTERNAL));
    expect(out.message).toBe("received compressed envelope, but do not know how to decompress");
    expect(out.responses).toEqual([]);
  });

  it("answers INVALID_ARGUMENT to undecodable bytes and to a body that ends inside a message", async () => {
    const garbage = await rawHeartbeat([encodeGrpcFrame(Uint8Array.of(0x12, 0x05, 0x01))]);
    expect(garbage.status).toBe(String(grpc.status.INVALID_ARGUMENT));
    expect(garbage.message).toMatch(/^heartbeat: cannot decode the request/);
    const truncated = await rawHeartbeat([frame(hello("g-cut")).subarray(0, 9)]);
    expect(truncated.status).toBe(String(grpc.status.INVALID_ARGUMENT));
    expect(truncated.message).toBe("protocol error: the request ended inside a message");
    const notHello = await rawHeartbeat([frame(report("g-nohello", 1))]);
    expect(notHello.status).toBe(String(grpc.status.INVALID_ARGUMENT));
    expect(notHello.message).toContain("first message must be hello");
  });

  it("ends the call with DEADLINE_EXCEEDED at its grpc-timeout and releases the hive", async () => {
    const client = new grpc.Client(queen.url.replace("http://", ""), grpc.credentials.createInsecure());
    try {
      const { call, status, received } = grpcJsHeartbeat(client, { deadline: Date.now() + 1_500 });
      call.write(hello("g-deadline"));
      call.write(report("g-deadline", 1));
      await received(2);
      expect((await status).code).toBe(grpc.status.DEADLINE_EXCEEDED);
      await waitUntil(() => queen.registry.hive("g-deadline")?.connected === false, "the hive marked disconnected");
    } finally {
      client.close();
    }
    const bad = await rawHeartbeat([frame(hello("g-timeout"))], { headers: { "grpc-timeout": "soon" } });
    expect(bad.status).toBe(String(grpc.status.INVALID_ARGUMENT));
    expect(bad.message).toBe("protocol error: invalid grpc timeout value: soon");
  });

  it("cancellation (RST_STREAM) releases the hive's session: the hive is disconnected and may connect again", async () => {
    const client = new grpc.Client(queen.url.replace("http://", ""), grpc.credentials.createInsecure());
    try {
      const first = grpcJsHeartbeat(client);
      first.call.write(hello("g-cancel"));
      first.call.write(report("g-cancel", 1));
      await first.received(2);
      expect(queen.registry.hive("g-cancel")?.connected).toBe(true);
      first.call.cancel();
      expect((await first.status).code).toBe(grpc.status.CANCELLED);
      await waitUntil(() => queen.registry.hive("g-cancel")?.connected === false, "the hive marked disconnected");
      const again = grpcJsHeartbeat(client);
      again.call.write(hello("g-cancel"));
      again.call.write(report("g-cancel", 2));
      const got = await again.received(2);
      expect(got[1].kind).toMatchObject({ case: "ack", value: { seq: 2n } });
      expect(queen.registry.hive("g-cancel")?.connected).toBe(true);
      again.call.cancel();
    } finally {
      client.close();
    }
  });

  it("a queen shutting down ends open raw streams with UNAVAILABLE", async () => {
    const { queen: closing } = await startTestQueen({});
    const client = new grpc.Client(closing.url.replace("http://", ""), grpc.credentials.createInsecure());
    try {
      const { call, status, received } = grpcJsHeartbeat(client);
      call.write(hello("g-shutdown"));
      call.write(report("g-shutdown", 1));
      await received(2);
      const closed = closing.close();
      const end = await status;
      expect(end.code).toBe(grpc.status.UNAVAILABLE);
      expect(end.details).toBe("queen is shutting down");
      await closed;
    } finally {
      client.close();
      await closing.close();
    }
  });

  it("the RPC and ingest metrics count raw Heartbeat calls", async () => {
    const text = async (): Promise<string> => queen.metrics.registry.metrics();
    const value = (body: string, line: RegExp): number => Number(line.exec(body)?.[1] ?? 0);
    const started = /apiary_rpc_server_started_total\{service="apiary\.v1\.QueenService",method="Heartbeat",type="bidi_streaming"\} (\d+)/;
    const accepted = /apiary_queen_reports_accepted_total (\d+)/;
    const before = await text();
    const out = await rawHeartbeat([frame(hello("g-metrics")), frame(report("g-metrics", 1)), frame(report("g-metrics", 2))]);
    expect(out.status).toBe("0");
    const after = await text();
    expect(value(after, started) - value(before, started)).toBe(1);
    expect(value(after, accepted) - value(before, accepted)).toBe(2);
    expect(after).toMatch(/apiary_rpc_server_handled_total\{service="apiary\.v1\.QueenService",method="Heartbeat",type="bidi_streaming",code="ok"\} \d+/);
  });

  it("leaves JSON, Connect and compressed gRPC requests to connect-node", async () => {
    // The same hand-cut body as application/grpc+json is not the raw path's: connect-node answers it.
    const out = await rawHeartbeat([frame(hello("g-json"))], { headers: { "content-type": "application/grpc+json" } });
    expect(out.status).toBe(String(grpc.status.INVALID_ARGUMENT));
    expect(out.message).not.toBe("protocol error: the request ended inside a message");
    const gzip = grpcJsHeartbeatCompressed();
    try {
      gzip.stream.call.write(hello("g-gzip"));
      gzip.stream.call.write(report("g-gzip", 1));
      const got = await gzip.stream.received(2);
      expect(got[1].kind).toMatchObject({ case: "ack", value: { seq: 1n } });
      gzip.stream.call.cancel();
    } finally {
      gzip.client.close();
    }
  });
});

function grpcJsHeartbeatCompressed() {
  const client = new grpc.Client(queen.url.replace("http://", ""), grpc.credentials.createInsecure(), {
    "grpc.default_compression_algorithm": grpc.compressionAlgorithms.gzip,
  });
  return { client, stream: grpcJsHeartbeat(client) };
}
