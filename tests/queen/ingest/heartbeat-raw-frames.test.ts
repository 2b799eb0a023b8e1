import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { HeartbeatRequestSchema } from "../../../gen/apiary/v1/queen_pb.js";
import { encodeGrpcFrame, GrpcFrameReader } from "../../../src/rpc/grpc-frame-reader.js";
import { HeartbeatDecoder } from "../../../src/queen/ingest/heartbeat-decoder.js";
import { makeHiveInfo, syntheticReport } from "../helpers/telemetry-builders.js";

// The raw gRPC path's framing: length-prefixed messages cut anywhere by the transport.
function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

/** The payloads as hex digests-in-full (cheap to compare, readable when they differ in length). */
function readAll(reader: GrpcFrameReader, chunks: Uint8Array[]): string[] {
  const out: Uint8Array[] = [];
  for (const chunk of chunks) reader.push(chunk, out);
  return out.map(hex);
}

function hex(p: Uint8Array): string {
  return `${p.length}:${Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString("hex")}`;
}

function errorOf(fn: () => void): ConnectError | undefined {
  try {
    fn();
  } catch (err) {
    return err as ConnectError;
  }
  return undefined;
}

describe("GrpcFrameReader", () => {
  const payloads = [bytes(0, 1), bytes(1, 2), bytes(300, 3), bytes(70_000, 4), bytes(7, 5)];
  const stream = Buffer.concat(payloads.map((p) => encodeGrpcFrame(p)));

  it("reads several frames from one chunk", () => {
    const reader = new GrpcFrameReader(1 << 20);
    expect(readAll(reader, [stream])).toEqual(payloads.map(hex));
    expect(reader.atBoundary).toBe(true);
  });

  it("reads frames split at every position of the stream, and byte by byte", () => {
    for (let cut = 0; cut <= stream.length; cut += cut < 400 ? 1 : 4_999) {
      const reader = new GrpcFrameReader(1 << 20);
      expect(readAll(reader, [stream.subarray(0, cut), stream.subarray(cut)])).toEqual(payloads.map(hex));
    }
    const head = stream.subarray(0, 400);
    const reader = new GrpcFrameReader(1 << 20);
    const chunks = Array.from(head, (b) => Uint8Array.of(b));
    expect(readAll(reader, chunks)).toEqual(payloads.slice(0, 3).map(hex));
    expect(reader.atBoundary).toBe(false); // inside the 70,000-byte frame
  });

  it("refuses a frame above the limit from its header, before its payload arrives", () => {
    const reader = new GrpcFrameReader(1000);
    const header = encodeGrpcFrame(bytes(1001, 0)).subarray(0, 5);
    const err = errorOf(() => reader.push(header, []));
    expect(err?.code).toBe(Code.ResourceExhausted);
    expect(err?.rawMessage).toBe("message size 1001 is larger than configured readMaxBytes 1000");
    expect(readAll(new GrpcFrameReader(1000), [encodeGrpcFrame(bytes(1000, 0))])).toHaveLength(1);
  });

  it("refuses a compressed frame: no grpc-encoding was negotiated", () => {
    const frame = encodeGrpcFrame(bytes(10, 0));
    frame[0] = 1;
    const err = errorOf(() => new GrpcFrameReader(1000).push(frame, []));
    expect(err?.code).toBe(Code.Internal);
  });

  it("hands on the frames before a refused one", () => {
    const bad = encodeGrpcFrame(bytes(3, 0));
    bad[0] = 1;
    const out: Uint8Array[] = [];
    const err = errorOf(() => new GrpcFrameReader(1000).push(Buffer.concat([encodeGrpcFrame(bytes(2, 9)), bad]), out));
    expect(err?.code).toBe(Code.Internal);
    expect(out.map(hex)).toEqual([hex(bytes(2, 9))]);
  });
});

describe("HeartbeatDecoder.decodeBytes (the raw path's decoding)", () => {
  const hiveId = "h1";
  const requests = [
    create(HeartbeatRequestSchema, { kind: { case: "hello", value: { hive: makeHiveInfo(hiveId), incarnation: "i" } } }),
    ...[1, 2, 3].map((seq) => create(HeartbeatRequestSchema, { kind: { case: "report", value: syntheticReport({ hiveId, seq, workers: 4, gpus: 2, tick: seq }) } })),
    create(HeartbeatRequestSchema, { kind: { case: "goodbye", value: { reason: "bye" } } }),
  ];

  it("decodes hello, changing reports and goodbye exactly as protobuf-es does", () => {
    const decoder = new HeartbeatDecoder();
    for (const request of requests) {
      const bytes = toBinary(HeartbeatRequestSchema, request);
      expect(decoder.decodeBytes(bytes)).toEqual(fromBinary(HeartbeatRequestSchema, bytes));
    }
  });

  it("decodes a report sent in two parts (merged like protobuf-es) and refuses a cut length", () => {
    const a = toBinary(HeartbeatRequestSchema, requests[1]);
    const b = toBinary(HeartbeatRequestSchema, requests[2]);
    const both = Buffer.concat([a, b]);
    expect(new HeartbeatDecoder().decodeBytes(both)).toEqual(fromBinary(HeartbeatRequestSchema, both));
    const err = errorOf(() => new HeartbeatDecoder().decodeBytes(Uint8Array.of(0x12, 0x80)));
    expect(err?.code).toBe(Code.InvalidArgument);
  });
});
