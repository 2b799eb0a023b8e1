import { clone, create, fromBinary, ScalarType, toBinary, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { HeartbeatRequestSchema, type HeartbeatRequest } from "../../../gen/apiary/v1/queen_pb.js";
import { HiveReportSchema, WorkerTelemetrySchema, type HiveReport, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { HeartbeatDecoder, HeartbeatFrameSchema } from "../../../src/queen/ingest/heartbeat-decoder.js";
import { wireBytesOf } from "../../../src/queen/ingest/wire-bytes.js";
import { seededRandom as rng } from "../../helpers/seeded-random.js";

// Property test: a stream of reports decoded by HeartbeatDecoder (which reuses the unchanged parts
// of the previous report) gives exactly what protobuf-es fromBinary gives, report after report.


type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

function randomScalar(r: Rand, type: ScalarType): unknown {
  switch (type) {
    case ScalarType.STRING: return pick(r, ["", "a", "w-1", "model-x", "ünïcødé ✓", "x".repeat(40)]);
    case ScalarType.BYTES: return Uint8Array.from({ length: Math.floor(r() * 5) }, () => Math.floor(r() * 256));
    case ScalarType.BOOL: return r() < 0.5;
    case ScalarType.DOUBLE: case ScalarType.FLOAT: return pick(r, [0, 1.5, -2, 99.25, 1e12, r() * 100]);
    case ScalarType.INT64: case ScalarType.SINT64: case ScalarType.SFIXED64: return pick(r, [0n, 1n, -1n, 2n ** 40n, BigInt(Math.floor(r() * 1e9))]);
    case ScalarType.UINT64: case ScalarType.FIXED64: return pick(r, [0n, 1n, 2n ** 33n, 2n ** 63n, BigInt(Math.floor(r() * 1e12))]);
    case ScalarType.INT32: case ScalarType.SINT32: case ScalarType.SFIXED32: return pick(r, [0, 1, -1, 2 ** 30, Math.floor(r() * 1000)]);
    default: return pick(r, [0, 1, 2 ** 31, Math.floor(r() * 1000)]);
  }
}

function randomValue(r: Rand, field: DescField, depth: number): unknown {
  switch (field.fieldKind) {
    case "scalar": return randomScalar(r, field.scalar);
    case "enum": return pick(r, field.enum.values).number;
    case "message": return randomMessage(r, field.message, depth + 1);
    case "list": {
      const n = Math.floor(r() * 4);
      return Array.from({ length: n }, () => (field.listKind === "message" ? randomMessage(r, field.message, depth + 1) : field.listKind === "enum" ? pick(r, field.enum.values).number : randomScalar(r, field.scalar)));
    }
    case "map": {
      const out: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 3); i > 0; i--) out[String(randomScalar(r, ScalarType.STRING)) + i] = field.mapKind === "message" ? randomMessage(r, field.message, depth + 1) : field.mapKind === "enum" ? pick(r, field.enum.values).number : randomScalar(r, field.scalar);
      return out;
    }
  }
}

/** A message of the schema with each field set at random (every field the schema has today or gets later). */
function randomMessage(r: Rand, schema: DescMessage, depth = 0): Message {
  const msg = create(schema) as unknown as Record<string, unknown>;
  for (const field of schema.fields) {
    if (r() < (depth > 2 ? 0.8 : 0.3)) continue;
    if (field.oneof) msg[field.oneof.localName] = { case: field.localName, value: randomValue(r, field, depth) };
    else msg[field.localName] = randomValue(r, field, depth);
  }
  if (r() < 0.1) (msg as Message).$unknown = [{ no: 9000 + Math.floor(r() * 10), wireType: WireType.Varint, data: Uint8Array.of(42) }];
  return msg as unknown as Message;
}

/** The next report of a hive: most workers and devices keep their static fields, some change anything. */
function nextReport(r: Rand, prev: HiveReport): HiveReport {
  const next = clone(HiveReportSchema, prev);
  next.seq = prev.seq + 1n;
  const touch = (m: Message, schema: DescMessage) => {
    const field = pick(r, schema.fields);
    if (field.oneof) return;
    (m as unknown as Record<string, unknown>)[field.localName] = randomValue(r, field, 1);
  };
  for (const list of [next.workers, next.devices] as Message[][]) {
    const schema = list === next.workers ? WorkerTelemetrySchema : HiveReportSchema.field.devices.message!;
    for (let i = 0; i < list.length; i++) {
      const roll = r();
      if (roll < 0.5) touch(list[i], schema); // a dynamic or a static field
      else if (roll < 0.6) list[i] = randomMessage(r, schema, 1);
    }
    if (r() < 0.2) list.splice(Math.floor(r() * (list.length + 1)), 0, randomMessage(r, schema, 1));
    if (r() < 0.2 && list.length > 0) list.splice(Math.floor(r() * list.length), 1);
  }
  if (r() < 0.3) touch(next, HiveReportSchema);
  return next;
}

/** The frame connect-node hands the route: the request's bytes parsed with the empty frame schema. */
function frameOf(bytes: Uint8Array) {
  return fromBinary(HeartbeatFrameSchema, bytes);
}

function reportRequest(report: HiveReport): HeartbeatRequest {
  return create(HeartbeatRequestSchema, { kind: { case: "report", value: report } });
}

/** Returns how many of the report's workers kept their bytes. */
function expectSame(bytes: Uint8Array, decoder: HeartbeatDecoder): number {
  const expected = fromBinary(HeartbeatRequestSchema, bytes);
  const actual = decoder.decode(frameOf(bytes));
  expect(actual).toEqual(expected);
  expect(toBinary(HeartbeatRequestSchema, actual)).toEqual(toBinary(HeartbeatRequestSchema, expected));
  // A worker keeps the bytes it came in (Watch sends them on; not when the whole report had to be
  // decoded the ordinary way), and they decode to it.
  let kept = 0;
  for (const worker of actual.kind.case === "report" ? actual.kind.value.workers : []) {
    const bytes = wireBytesOf(worker);
    if (bytes === undefined) continue;
    expect(fromBinary(WorkerTelemetrySchema, bytes)).toEqual(worker);
    kept++;
  }
  return kept;
}

describe("HeartbeatDecoder", () => {
  it("decodes 30 streams of 25 changing reports exactly as protobuf-es does", () => {
    let kept = 0;
    let workers = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const r = rng(seed * 7919);
      const decoder = new HeartbeatDecoder(() => true);
      let report = randomMessage(r, HiveReportSchema) as HiveReport;
      for (let i = 0; i < 1 + Math.floor(r() * 6); i++) report.workers.push(randomMessage(r, WorkerTelemetrySchema, 1) as never);
      for (let step = 0; step < 25; step++) {
        kept += expectSame(toBinary(HeartbeatRequestSchema, reportRequest(report)), decoder);
        workers += report.workers.length;
        report = nextReport(r, report);
      }
    }
    expect(kept).toBeGreaterThan(workers / 2);
  });

  it("reuses the unchanged parts of a worker and never shares the message objects themselves", () => {
    const r = rng(5);
    const worker = randomMessage(r, WorkerTelemetrySchema, 1);
    Object.assign(worker, { argv: ["python3", "-m", "vllm"], labels: { team: "a" }, cpuPct: 1 });
    const report = create(HiveReportSchema, { workers: [worker as never] });
    const decoder = new HeartbeatDecoder();
    const first = decoder.decode(frameOf(toBinary(HeartbeatRequestSchema, reportRequest(report))));
    report.workers[0].cpuPct = 2;
    const second = decoder.decode(frameOf(toBinary(HeartbeatRequestSchema, reportRequest(report))));
    const [a, b] = [first, second].map((q) => (q.kind.value as HiveReport).workers[0]);
    expect(b.cpuPct).toBe(2);
    expect(a.cpuPct).toBe(1);
    expect(b).not.toBe(a);
    expect(b.argv).toBe(a.argv); // decoded once
    expect(b.labels).toBe(a.labels);
  });

  it("keeps each worker's and device's bytes in one copy of the request, which the transport may then reuse", () => {
    const report = create(HiveReportSchema, {
      devices: [{ uuid: "GPU-0", utilizationPct: 10 }, { uuid: "GPU-1", utilizationPct: 20 }],
      workers: [{ workerId: "w0", cpuPct: 1 }, { workerId: "w1", cpuPct: 2, labels: { team: "a" } }],
    });
    const bytes = toBinary(HeartbeatRequestSchema, reportRequest(report));
    const decoded = new HeartbeatDecoder(() => true).decodeBytes(bytes).kind.value as HiveReport;
    const kept = [...decoded.devices, ...decoded.workers].map((m) => wireBytesOf(m)!);
    expect(new Set(kept.map((k) => k.buffer)).size).toBe(1); // one allocation for the report
    expect(kept.every((k) => k.buffer !== bytes.buffer && !(k instanceof Buffer))).toBe(true);
    bytes.fill(0); // the transport's buffer, reused
    expect(decoded.devices.map((d, i) => fromBinary(HiveReportSchema.field.devices.message!, kept[i]))).toEqual(report.devices);
    expect(decoded.workers.map((w, i) => fromBinary(WorkerTelemetrySchema, kept[2 + i]))).toEqual(report.workers);
  });

  it("merges repeated occurrences of a field as protobuf-es does", () => {
    const r = rng(11);
    for (let i = 0; i < 50; i++) {
      const a = toBinary(WorkerTelemetrySchema, randomMessage(r, WorkerTelemetrySchema, 1) as WorkerTelemetry);
      const b = toBinary(WorkerTelemetrySchema, randomMessage(r, WorkerTelemetrySchema, 1) as WorkerTelemetry);
      const worker = new Uint8Array([...a, ...b]); // one worker message: the two merged
      const reportBytes = new BinaryWriter().tag(4, WireType.LengthDelimited).bytes(worker).finish();
      const twoReports = new Uint8Array([...reportBytes, ...toBinary(HiveReportSchema, randomMessage(r, HiveReportSchema) as HiveReport)]);
      const request = new BinaryWriter().tag(2, WireType.LengthDelimited).bytes(twoReports).finish();
      expectSame(request, new HeartbeatDecoder(() => true));
    }
  });

  it("decodes hello and goodbye, and answers INVALID_ARGUMENT for bytes that are no request", () => {
    const decoder = new HeartbeatDecoder();
    const hello = create(HeartbeatRequestSchema, { kind: { case: "hello", value: { hive: { hiveId: "h1" }, incarnation: "i" } } });
    expect(decoder.decode(frameOf(toBinary(HeartbeatRequestSchema, hello)))).toEqual(hello);
    const goodbye = create(HeartbeatRequestSchema, { kind: { case: "goodbye", value: { reason: "bye" } } });
    expect(decoder.decode(frameOf(toBinary(HeartbeatRequestSchema, goodbye)))).toEqual(goodbye);
    // A report field whose payload is not a HiveReport (a worker field with a truncated length).
    const bad = new BinaryWriter().tag(2, WireType.LengthDelimited).bytes(Uint8Array.of(0x22, 0x05, 0x0a)).finish();
    let thrown: unknown;
    try {
      decoder.decode(frameOf(bad));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConnectError);
    expect((thrown as ConnectError).code).toBe(Code.InvalidArgument);
  });

  it("reads the report's length prefix once, the same way for frames and raw bytes, whatever the prefix holds", () => {
    const report = toBinary(HiveReportSchema, create(HiveReportSchema, { seq: 3n, baseSeq: 2n, removedWorkerIds: ["w1"], workers: [{ workerId: "w2", cpuPct: 4 }] }));
    const request = toBinary(HeartbeatRequestSchema, reportRequest(fromBinary(HiveReportSchema, report)));
    const decoder = new HeartbeatDecoder();
    expect(decoder.decodeBytes(request)).toEqual(fromBinary(HeartbeatRequestSchema, request));
    expect(decoder.decode(frameOf(request))).toEqual(fromBinary(HeartbeatRequestSchema, request));
    // Prefixes that do not frame the rest: too short, too long, truncated, an overlong varint.
    const tag = request[0];
    for (const prefix of [[report.length - 1], [report.length + 1], [0x80], [0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]]) {
      const bytes = Uint8Array.from([tag, ...prefix, ...report]);
      let outcome: unknown;
      try {
        outcome = decoder.decodeBytes(bytes);
      } catch (err) {
        outcome = err;
      }
      if (outcome instanceof Error) expect((outcome as ConnectError).code).toBe(Code.InvalidArgument);
      else expect(outcome).toEqual(fromBinary(HeartbeatRequestSchema, bytes));
    }
  });
});
