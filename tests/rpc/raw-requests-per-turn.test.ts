import { randomUUID } from "node:crypto";
import { once } from "node:events";
import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeartbeatRequestSchema } from "../../gen/apiary/v1/queen_pb.js";
import type { Queen } from "../../src/queen/queen.js";
import { encodeGrpcFrame } from "../../src/rpc/grpc-frame-reader.js";
import { RAW_REQUESTS_PER_TURN } from "../../src/rpc/raw-grpc-stream.js";
import { startTestQueen } from "../queen/helpers/queen-fixture.js";
import { makeHiveInfo, syntheticReport } from "../queen/helpers/telemetry-builders.js";

// A loaded queen's socket reads bring many Heartbeat streams' reports at once, and each one ran its
// handler in the microtasks after its read: one turn applied the whole burst, however long it took.
describe("raw gRPC streams hand requests to their handlers in slices per turn", () => {
  let queen: Queen;
  beforeAll(async () => ({ queen } = await startTestQueen()));
  afterAll(async () => queen?.close());

  it(`applies at most ${RAW_REQUESTS_PER_TURN} requests per turn when 250 streams' hellos and reports arrive together, and applies all of them`, async () => {
    const streams = 250; // under the streams-per-connection cap (256)
    const objects = () => queen.registry.hiveCount() + queen.registry.workerCount();
    const session = http2.connect(queen.url);
    session.on("error", () => undefined);
    await once(session, "connect");
    const base = objects();
    // Every request adds exactly one object: a hello its hive, a report its single worker.
    const perTurn: number[] = [];
    const applied = new Promise<void>((resolve) => {
      let last = base;
      const turn = () => {
        const now = objects();
        perTurn.push(now - last);
        last = now;
        if (now - base >= 2 * streams || perTurn.length >= 100_000) resolve();
        else setImmediate(turn);
      };
      setImmediate(turn);
    });
    const opened: http2.ClientHttp2Stream[] = [];
    for (let i = 0; i < streams; i++) {
      const hiveId = `burst-${i}`;
      const stream = session.request({ ":method": "POST", ":path": "/apiary.v1.QueenService/Heartbeat", "content-type": "application/grpc", te: "trailers" });
      stream.on("error", () => undefined);
      stream.resume();
      const hello = create(HeartbeatRequestSchema, { kind: { case: "hello", value: { hive: makeHiveInfo(hiveId), incarnation: randomUUID() } } });
      const report = create(HeartbeatRequestSchema, { kind: { case: "report", value: syntheticReport({ hiveId, seq: 1, workers: 1, gpus: 1 }) } });
      stream.write(Buffer.concat([encodeGrpcFrame(toBinary(HeartbeatRequestSchema, hello)), encodeGrpcFrame(toBinary(HeartbeatRequestSchema, report))]));
      opened.push(stream);
    }
    await applied;
    expect(objects() - base).toBe(2 * streams);
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(RAW_REQUESTS_PER_TURN);
    for (const stream of opened) stream.close();
    session.close();
  });
});
