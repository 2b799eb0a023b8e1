import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { HeartbeatRequestSchema, HiveHealth, type HeartbeatRequest, HiveStatusSchema, QueenService, WatchKind, WatchResponseSchema, type HiveStatus, type WatchResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { HiveReportSchema, WorkerTelemetrySchema } from "../../../gen/apiary/v1/telemetry_pb.js";
import { HeartbeatDecoder } from "../../../src/queen/ingest/heartbeat-decoder.js";
import { wireBytesOf } from "../../../src/queen/ingest/wire-bytes.js";
import type { Queen } from "../../../src/queen/queen.js";
import { ChangeType, type RegistryEvent } from "../../../src/queen/registry/registry.js";
import { batchResponse, encodeWatchResponse, eventResponse, keptFieldOf, preEncodedEventResponse } from "../../../src/queen/watch/shared-event-encoding.js";
import { makeHiveInfo, makeWorker } from "../helpers/telemetry-builders.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { TestHive } from "../helpers/test-hive.js";

const workerEvent: RegistryEvent = { revision: 41, kind: "worker", type: ChangeType.Updated, hiveId: "h1", worker: makeWorker("w1", { model: "m", gpuUuids: ["GPU-1"] }) };
const hiveEvent: RegistryEvent = {
  revision: 42,
  kind: "hive",
  type: ChangeType.Added,
  hiveId: "h1",
  hive: create(HiveStatusSchema, { info: makeHiveInfo("h1", { zone: "a" }), health: HiveHealth.HEALTHY, lastSeq: 7n }),
};

describe("pre-encoded watch events", () => {
  it.each([
    ["worker", workerEvent, ChangeType.Updated],
    ["worker seen as REMOVED", workerEvent, ChangeType.Removed],
    ["hive", hiveEvent, ChangeType.Added],
  ] as const)("decode to the ordinary message (%s)", (_name, event, type) => {
    preEncodedEventResponse(event, type, "epoch-1", false); // the first watcher's
    for (const snapshot of [false, true]) {
      const shared = toBinary(WatchResponseSchema, preEncodedEventResponse(event, type, "epoch-1", snapshot));
      const ordinary = eventResponse(event, type, "epoch-1", snapshot);
      expect(equals(WatchResponseSchema, fromBinary(WatchResponseSchema, shared), ordinary)).toBe(true);
      // Without the snapshot flag even the bytes are the same; with it, only the field order differs.
      if (!snapshot) expect(shared).toEqual(toBinary(WatchResponseSchema, ordinary));
    }
  });

  it("encode an event once per type from its second watcher on; the first gets the ordinary message", () => {
    const event: RegistryEvent = { ...workerEvent };
    const unknownOf = (r: object) => (r as { $unknown?: unknown[] }).$unknown?.[0];
    const first = preEncodedEventResponse(event, ChangeType.Updated, "e", false);
    expect(first.kind.case).toBe("worker");
    expect(unknownOf(first)).toBeUndefined();
    const second = unknownOf(preEncodedEventResponse(event, ChangeType.Updated, "e", false));
    expect(second).toBeDefined();
    expect(unknownOf(preEncodedEventResponse(event, ChangeType.Updated, "e", true))).toBe(second);
    expect(unknownOf(preEncodedEventResponse(event, ChangeType.Added, "e", false))).toBeUndefined();
    expect(unknownOf(preEncodedEventResponse(event, ChangeType.Added, "e", false))).not.toBe(second);
  });
});

describe("a hive's status on Watch", () => {
  let queen: Queen | undefined;
  afterEach(async () => queen?.close());

  it("is the status ListHives gives, in its events and in a later watcher's snapshot", async () => {
    ({ queen } = await startTestQueen());
    const client = createClient(QueenService, createGrpcTransport({ baseUrl: queen.url }));
    const abort = new AbortController();
    const live = client.watch({ kinds: [WatchKind.HIVE] }, { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await live.next()).value?.kind.case).toBe("snapshotEnd");
    const hive = await TestHive.connect(queen.url, "h1");
    // Two reports whose devices differ: the second's devices go out as the bytes they came in.
    await hive.reportSynthetic({ workers: 1, gpus: 2, tick: 1 });
    await hive.reportSynthetic({ workers: 1, gpus: 2, tick: 5 });
    let last: HiveStatus | undefined;
    while (last?.lastSeq !== 2n) {
      const m = (await live.next()).value as WatchResponse;
      if (m.kind.case === "hive") last = m.kind.value.hive;
    }
    const listed = (await client.listHives({ omitWorkers: true })).hives[0];
    expect(listed.devices.map((d) => d.utilizationPct)).toEqual([5, 18]);
    expect(equals(HiveStatusSchema, last, listed)).toBe(true);
    const later = client.watch({ kinds: [WatchKind.HIVE] }, { signal: abort.signal })[Symbol.asyncIterator]();
    const snapshot = (await later.next()).value as WatchResponse;
    expect(snapshot.kind.case).toBe("hive");
    expect(equals(HiveStatusSchema, snapshot.kind.case === "hive" ? snapshot.kind.value.hive! : listed, listed)).toBe(true);
    abort.abort();
    hive.abort();
  });
});

describe("Watch over JSON", () => {
  let queen: Queen | undefined;
  afterEach(async () => queen?.close());

  it("sends ordinary events to a client that reads JSON", async () => {
    ({ queen } = await startTestQueen());
    const hive = await TestHive.connect(queen.url, "h1");
    await hive.reportSynthetic({ workers: 1, gpus: 1 });
    const client = createClient(QueenService, createConnectTransport({ baseUrl: queen.url, httpVersion: "1.1", useBinaryFormat: false }));
    const abort = new AbortController();
    const seen: string[] = [];
    for await (const m of client.watch({}, { signal: abort.signal })) {
      if (m.kind.case === "hive") seen.push(`hive ${m.kind.value.hive?.info?.hiveId}`);
      if (m.kind.case === "worker") seen.push(`worker ${m.kind.value.hiveId}/${m.kind.value.worker?.workerId}`);
      if (m.kind.case === "snapshotEnd") break;
    }
    abort.abort();
    hive.abort();
    expect(seen).toEqual(["hive h1", "worker h1/w0"]);
  });
});

describe("batched watch events", () => {
  it("decode to the ordinary batch, each event with its own revision, the message with the given one", () => {
    const changes = [
      { event: workerEvent, type: ChangeType.Updated },
      { event: hiveEvent, type: ChangeType.Added },
      { event: { ...workerEvent, revision: 300 }, type: ChangeType.Removed }, // a revision over one varint byte
    ];
    for (const snapshot of [false, true]) {
      const shared = fromBinary(WatchResponseSchema, toBinary(WatchResponseSchema, batchResponse(changes, "e", snapshot, 299, true)));
      const ordinary = batchResponse(changes, "e", snapshot, 299, false);
      expect(equals(WatchResponseSchema, shared, ordinary)).toBe(true);
      expect(shared.revision).toBe(299n);
      expect(shared.kind.case === "batch" && shared.kind.value.events.map((e) => e.revision)).toEqual([41n, 42n, 300n]);
    }
  });
});

describe("workers sent on in the bytes they came in", () => {
  const request = create(HeartbeatRequestSchema, {
    kind: { case: "report", value: create(HiveReportSchema, { seq: 3n, workers: [makeWorker("w1", { model: "m", gpuUuids: ["GPU-1"] }), makeWorker("w2", { model: "ünïcødé" })] }) },
  });

  it("the heartbeat decoder keeps each worker's bytes, which decode to the worker", () => {
    const decoded = new HeartbeatDecoder(() => true).decodeBytes(toBinary(HeartbeatRequestSchema, request));
    const workers = decoded.kind.case === "report" ? decoded.kind.value.workers : [];
    expect(workers).toHaveLength(2);
    for (const w of workers) expect(equals(WorkerTelemetrySchema, fromBinary(WorkerTelemetrySchema, wireBytesOf(w)!), w)).toBe(true);
  });

  it("a copy of a worker made by spreading it does not carry the bytes (the copy may then differ)", () => {
    const decoded = new HeartbeatDecoder(() => true).decodeBytes(toBinary(HeartbeatRequestSchema, request));
    const [worker] = decoded.kind.case === "report" ? decoded.kind.value.workers : [];
    expect(wireBytesOf(worker!)).toBeDefined();
    const renamed = { ...worker!, model: "other" };
    expect(wireBytesOf(renamed)).toBeUndefined();
    expect(wireBytesOf(Object.assign({}, worker!))).toBeUndefined();
  });

  it("only when asked: a decoder keeps them per report, as its flag says at each decode", () => {
    let watched = false;
    const decoder = new HeartbeatDecoder(() => watched);
    const workersOf = (r: HeartbeatRequest) => (r.kind.case === "report" ? r.kind.value.workers : []);
    const bytes = toBinary(HeartbeatRequestSchema, request);
    expect(workersOf(decoder.decodeBytes(bytes)).map((w) => wireBytesOf(w))).toEqual([undefined, undefined]);
    watched = true;
    expect(workersOf(decoder.decodeBytes(bytes)).every((w) => wireBytesOf(w) !== undefined)).toBe(true);
  });

  it("a queen keeps them while someone watches, and not before", async () => {
    const { queen, client } = await startTestQueen();
    const hive = await TestHive.connect(queen.url, "h1");
    const kept = () => [...queen.registry.hive("h1")!.workers.values()].map((w) => wireBytesOf(w) !== undefined);
    try {
      await hive.reportSynthetic({ workers: 2, gpus: 1 });
      expect(kept()).toEqual([false, false]);
      const abort = new AbortController();
      const stream = client.watch({ maxBatch: 16 }, { signal: abort.signal })[Symbol.asyncIterator]();
      for (let r = await stream.next(); !r.done && r.value.kind.case !== "snapshotEnd"; r = await stream.next());
      await hive.reportSynthetic({ workers: 2, gpus: 1, tick: 1 });
      expect(kept()).toEqual([true, true]);
      abort.abort();
    } finally {
      hive.abort();
      await queen.close();
    }
  });

  it("single and batched responses with kept bytes decode to the ordinary messages", () => {
    const decoded = new HeartbeatDecoder(() => true).decodeBytes(toBinary(HeartbeatRequestSchema, request));
    const workers = decoded.kind.case === "report" ? decoded.kind.value.workers : [];
    const events: RegistryEvent[] = workers.map((worker, i) => ({ revision: 200 + i, kind: "worker", type: ChangeType.Updated, hiveId: "hive-ü", worker }));
    for (const type of [ChangeType.Added, ChangeType.Updated, ChangeType.Removed]) {
      for (const event of events) {
        const single = preEncodedEventResponse(event, type, "e", false);
        expect((single as { $unknown?: unknown[] }).$unknown).toHaveLength(1); // shared from the first watcher on
        const bytes = toBinary(WatchResponseSchema, single);
        expect(bytes).toEqual(toBinary(WatchResponseSchema, eventResponse(event, type, "e", false)));
      }
      const changes = events.map((event) => ({ event, type }));
      const batch = fromBinary(WatchResponseSchema, toBinary(WatchResponseSchema, batchResponse(changes, "e", false, 201, true)));
      expect(equals(WatchResponseSchema, batch, batchResponse(changes, "e", false, 201, false))).toBe(true);
    }
  });

  // Memory: a snapshot's events live until the stream has sent all of them; with 50 watchers
  // re-snapshotting 9,000 workers each kept a copy of every worker's bytes (~180 MB held in a soak).
  it("keeps no encoded copy with a snapshot's events, single or batched, and still writes the ordinary messages", () => {
    const decoded = new HeartbeatDecoder(() => true).decodeBytes(toBinary(HeartbeatRequestSchema, request));
    const workers = decoded.kind.case === "report" ? decoded.kind.value.workers : [];
    const snapshotOf = () => workers.map((worker): RegistryEvent => ({ revision: 300, kind: "worker", type: ChangeType.Added, hiveId: "hive-ü", worker }));
    const single = snapshotOf();
    for (const event of single) {
      const response = preEncodedEventResponse(event, ChangeType.Added, "e", true, 300);
      expect(fromBinary(WatchResponseSchema, encodeWatchResponse(response))).toEqual(fromBinary(WatchResponseSchema, toBinary(WatchResponseSchema, eventResponse(event, ChangeType.Added, "e", true, 300))));
      expect(keptFieldOf(event, ChangeType.Added)).toBeUndefined();
    }
    const batched = snapshotOf();
    const changes = batched.map((event) => ({ event, type: ChangeType.Added }));
    for (let watcher = 0; watcher < 2; watcher++) {
      const batch = fromBinary(WatchResponseSchema, encodeWatchResponse(batchResponse(changes, "e", true, 300, true)));
      expect(equals(WatchResponseSchema, batch, batchResponse(changes, "e", true, 300, false))).toBe(true);
    }
    for (const event of batched) expect(keptFieldOf(event, ChangeType.Added)).toBeUndefined();
  });
});

describe("encodeWatchResponse", () => {
  it("writes exactly toBinary's bytes, pre-encoded or not", () => {
    const changes = [
      { event: workerEvent, type: ChangeType.Updated },
      { event: hiveEvent, type: ChangeType.Added },
    ];
    const responses = [
      ...[false, true].flatMap((snapshot) => [
        batchResponse(changes, "epoch-ü", snapshot, 299, true),
        batchResponse(changes, "", snapshot, 0, true),
        batchResponse(changes, "e", snapshot, 2 ** 40, true),
        preEncodedEventResponse(workerEvent, ChangeType.Updated, "e", snapshot),
        preEncodedEventResponse(hiveEvent, ChangeType.Added, "e", snapshot, 0),
        batchResponse(changes, "e", snapshot, 7, false),
      ]),
      create(WatchResponseSchema, { revision: 5n, epoch: "e", kind: { case: "bookmark", value: {} } }),
      create(WatchResponseSchema, { revision: 2n ** 60n, epoch: "e", kind: { case: "snapshotEnd", value: {} } }),
    ];
    // (a Buffer from Node's pool: compared as the plain bytes)
    for (const response of responses) expect(new Uint8Array(encodeWatchResponse(response))).toEqual(toBinary(WatchResponseSchema, response));
  });
});
