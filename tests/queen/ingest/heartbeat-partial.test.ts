import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HeartbeatRequestSchema, HeartbeatResponseSchema, type HeartbeatResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { CollectionErrorSchema, HiveReportSchema, ReportScope, WorkerState, type HiveReport } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import type { HiveView, RegistryEvent } from "../../../src/queen/registry/registry.js";
import { ReportDelta } from "../../../src/hive/report-delta.js";
import type { Deadband } from "../../../src/hive/report-deadband.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { GiB, makeDevice, makeHiveInfo, makeReport, makeWorker } from "../helpers/telemetry-builders.js";
import { TestHive } from "../helpers/test-hive.js";
import { seededRandom } from "../../helpers/seeded-random.js";

const EXACT: Deadband = {
  workerCpuPct: 0,
  workerMemoryRatio: 0,
  gpuUtilizationPct: 0,
  vramBytes: 0n,
  ioBytesPerSec: 0,
  ioRatio: 0,
  kvCacheRatio: 0,
  engineRatio: 0,
  temperatureC: 0,
  powerW: 0,
  clockRatio: 0,
  memoryAvailableRatio: 0,
};

/**
 * A hive's life in full reports: workers that change a little or not at all, start, end (EXITED
 * once, then dropped, as a hive does after the ack), vanish; GPUs and machine memory that move.
 */
function* hiveLife(hiveId: string, ticks: number, seed: number): Generator<HiveReport> {
  const random = seededRandom(seed);
  const workers = new Map<string, { cpu: number; vram: bigint; state: WorkerState; model: string }>();
  let next = 0;
  for (let i = 0; i < 5; i++) workers.set(`w${next++}`, { cpu: 10, vram: GiB, state: WorkerState.RUNNING, model: `m${i % 2}` });
  const util = [10, 20];
  let memory = 100n * GiB;
  let errors: { source: string; message: string }[] = [];
  for (let tick = 1; tick <= ticks; tick++) {
    for (const [id, w] of workers) {
      if (w.state === WorkerState.EXITED) {
        workers.delete(id);
        continue;
      }
      const r = random();
      if (r < 0.3) w.cpu += Math.round(random() * 20);
      else if (r < 0.35) w.vram += GiB;
      else if (r < 0.38) w.state = WorkerState.EXITED;
      else if (r < 0.4) workers.delete(id);
      else if (r < 0.42) w.model = `m${Math.floor(random() * 3)}`;
    }
    if (random() < 0.2) workers.set(`w${next++}`, { cpu: 5, vram: 0n, state: WorkerState.RUNNING, model: "m0" });
    if (random() < 0.3) util[Math.floor(random() * 2)] = Math.floor(random() * 100);
    if (random() < 0.2) memory -= GiB;
    if (random() < 0.1) errors = errors.length ? [] : [{ source: "gpu", message: "probe slow" }];
    const report = makeReport(
      0,
      util.map((u, i) => makeDevice(hiveId, i, { utilizationPct: u, usedGiB: i })),
      [...workers].map(([id, w]) =>
        makeWorker(id, { model: w.model, cpuPct: w.cpu, vramUsedBytes: w.vram, state: w.state, gpuUuids: [`GPU-${hiveId}-0`], ...(w.state === WorkerState.EXITED ? { exitCode: 0 } : {}) }),
      ),
    );
    report.memoryAvailableBytes = memory;
    report.errors = errors.map((e) => create(CollectionErrorSchema, e));
    yield report;
  }
}

/** What a client can see of a hive: its devices, workers (by id), hive fields, health. */
function visible(hive: HiveView | undefined): unknown {
  if (!hive) return undefined;
  const strip = (m: object) => JSON.parse(JSON.stringify(m, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))) as unknown;
  return {
    devices: hive.devices.map(strip),
    workers: [...hive.workers.values()].sort((a, b) => a.workerId.localeCompare(b.workerId)).map(strip),
    memoryAvailableBytes: hive.memoryAvailableBytes,
    errors: hive.errors.map(strip),
    gpuProbe: hive.gpuProbe && strip(hive.gpuProbe),
    carried: [...hive.carried].sort(),
    health: hive.health,
  };
}

function eventsOf(queen: Queen, hiveId: string): RegistryEvent[] {
  const events: RegistryEvent[] = [];
  queen.registry.subscribe((e) => {
    if (e.hiveId === hiveId) events.push(e);
  });
  return events;
}

/** An event without its revision: the two queens number their changes each in its own space. */
function shapeOf(e: RegistryEvent): string {
  return e.kind === "worker" ? `worker ${e.type} ${e.worker.workerId}` : `hive ${e.type}`;
}

let fullQueen: Queen;
let partialQueen: Queen;

beforeEach(async () => {
  fullQueen = (await startTestQueen()).queen;
  partialQueen = (await startTestQueen()).queen;
});

afterEach(async () => {
  await fullQueen.close();
  await partialQueen.close();
});

describe("send-on-change: the queen merges partial reports", () => {
  it("welcomes with partial_reports", async () => {
    const hive = await TestHive.connect(partialQueen.url, "h-welcome");
    expect(hive.welcome.partialReports).toBe(true);
    hive.abort();
  });

  it("holds exactly what full reports give, with the same Watch events, over a hive's life", async () => {
    const full = await TestHive.connect(fullQueen.url, "h1");
    const partial = await TestHive.connect(partialQueen.url, "h1");
    const fullEvents = eventsOf(fullQueen, "h1");
    const partialEvents = eventsOf(partialQueen, "h1");
    const delta = new ReportDelta(256n * GiB, { deadband: EXACT, fullReportIntervalMs: Number.MAX_SAFE_INTEGER });
    let seq = 0n;
    let partials = 0;
    for (const report of hiveLife("h1", 60, 7)) {
      seq += 1n;
      const sent = delta.next(report, seq);
      if (sent.scope === ReportScope.PARTIAL) partials += 1;
      await full.report({ ...report, seq });
      const ack = await partial.report(create(HiveReportSchema, sent));
      expect(ack.resync).toBe(false);
      expect(visible(partialQueen.registry.hive("h1"))).toEqual(visible(fullQueen.registry.hive("h1")));
    }
    expect(partials).toBe(59);
    expect(partialEvents.map(shapeOf)).toEqual(fullEvents.map(shapeOf));
    expect(partialEvents.some((e) => e.kind === "worker" && e.type === 3)).toBe(true);
    full.abort();
    partial.abort();
  });

  it("keeps an ended worker the hive reports gone for the retention, as after a full report", async () => {
    const hive = await TestHive.connect(partialQueen.url, "h-ended");
    await hive.report(makeReport(0, [], [makeWorker("a"), makeWorker("b")]));
    const ended = makeWorker("a", { state: WorkerState.EXITED, exitCode: 0 });
    await hive.report(create(HiveReportSchema, { scope: ReportScope.PARTIAL, baseSeq: 1n, workers: [ended], hiveFieldsUnchanged: true }));
    await hive.report(create(HiveReportSchema, { scope: ReportScope.PARTIAL, baseSeq: 2n, removedWorkerIds: ["a", "b"], hiveFieldsUnchanged: true }));
    const view = partialQueen.registry.hive("h-ended")!;
    expect([...view.workers.keys()]).toEqual(["a"]);
    expect([...view.carried]).toEqual(["a"]);
    expect(view.workers.get("a")!.state).toBe(WorkerState.EXITED);
    hive.abort();
  });

  it("a worker entry left out of a report stays left out, and named in the hive's errors, until the hive sends it again", async () => {
    const hive = await TestHive.connect(partialQueen.url, "h-rejected");
    const queenErrors = () => partialQueen.registry.hive("h-rejected")!.errors.filter((e) => e.source === "queen").map((e) => e.message);
    await hive.report(makeReport(0, [], [makeWorker("a"), makeWorker("b", { state: 99 as WorkerState })]));
    expect(queenErrors()).toHaveLength(1);
    await hive.report(create(HiveReportSchema, { scope: ReportScope.PARTIAL, baseSeq: 1n, workers: [makeWorker("a", { cpuPct: 90 })], hiveFieldsUnchanged: true }));
    expect(queenErrors()).toEqual([expect.stringContaining('"b"')]);
    expect([...partialQueen.registry.hive("h-rejected")!.workers.keys()]).toEqual(["a"]);
    await hive.report(create(HiveReportSchema, { scope: ReportScope.PARTIAL, baseSeq: 2n, workers: [makeWorker("b")], hiveFieldsUnchanged: true }));
    expect(queenErrors()).toEqual([]);
    expect([...partialQueen.registry.hive("h-rejected")!.workers.keys()].sort()).toEqual(["a", "b"]);
    hive.abort();
  });

  it("an empty partial report renews liveness and makes no event", async () => {
    const hive = await TestHive.connect(partialQueen.url, "h-empty");
    const first = await hive.report(makeReport(0, [makeDevice("h-empty", 0)], [makeWorker("a")]));
    const events = eventsOf(partialQueen, "h-empty");
    const seenBefore = partialQueen.registry.hive("h-empty")!.lastSeenMs;
    await new Promise((r) => setTimeout(r, 5)); // the liveness clock must be able to move
    const ack = await hive.report(create(HiveReportSchema, { scope: ReportScope.PARTIAL, baseSeq: 1n, hiveFieldsUnchanged: true }));
    expect(ack.resync).toBe(false);
    expect(ack.revision).toBe(first.revision);
    expect(events).toEqual([]);
    const view = partialQueen.registry.hive("h-empty")!;
    expect(view.lastSeq).toBe(2n);
    expect(view.lastSeenMs).toBeGreaterThan(seenBefore);
    expect([...view.workers.keys()]).toEqual(["a"]);
    hive.abort();
  });

  it("asks for a full report (resync) when a partial report has no base on this stream or names another", async () => {
    const hive = await TestHive.connect(partialQueen.url, "h-resync");
    // As after a queen restart: the hive's first report on the new stream claims a base the queen never saw.
    const orphan = await hive.report(create(HiveReportSchema, { scope: ReportScope.PARTIAL, baseSeq: 41n, workers: [makeWorker("a")], hiveFieldsUnchanged: true }));
    expect(orphan.resync).toBe(true);
    // What it carried is applied all the same: its entries are the hive's latest.
    expect([...partialQueen.registry.hive("h-resync")!.workers.keys()]).toEqual(["a"]);
    const fullAck = await hive.report(makeReport(0, [], [makeWorker("a"), makeWorker("b")]));
    expect(fullAck.resync).toBe(false);
    const good = await hive.report(create(HiveReportSchema, { scope: ReportScope.PARTIAL, baseSeq: 2n, hiveFieldsUnchanged: true }));
    expect(good.resync).toBe(false);
    // A report the queen never got (seq skipped): the base no longer matches.
    const skipped = create(HiveReportSchema, { seq: 5n, scope: ReportScope.PARTIAL, baseSeq: 4n, hiveFieldsUnchanged: true });
    expect((await hive.report(skipped)).resync).toBe(true);
    hive.abort();
  });

  it("refuses removed_worker_ids that are not worker ids, naming the field", async () => {
    const hive = await TestHive.connect(partialQueen.url, "h-bad");
    await hive.report(makeReport(0, [], [makeWorker("a")]));
    hive.send({ case: "report", value: create(HiveReportSchema, { seq: 2n, scope: ReportScope.PARTIAL, baseSeq: 1n, removedWorkerIds: ["a/../b"] }) });
    await expect(hive.next()).rejects.toThrow(/removed_worker_ids\[0\]/);
  });
});

describe("hives that know nothing of send-on-change", () => {
  it("an old-format hive's full reports keep full semantics: a worker left out is gone", async () => {
    const hive = await TestHive.connect(partialQueen.url, "h-old");
    await hive.report(makeReport(0, [], [makeWorker("a"), makeWorker("b")]));
    const ack = await hive.report(makeReport(0, [], [makeWorker("a")]));
    expect(ack.resync).toBe(false);
    expect([...partialQueen.registry.hive("h-old")!.workers.keys()]).toEqual(["a"]);
    hive.abort();
  });

  it("an unchanged grpc-js client (full reports, old response fields only) runs a Heartbeat stream", async () => {
    const raw = new grpc.Client(partialQueen.url.replace("http://", ""), grpc.credentials.createInsecure());
    try {
      const stream = raw.makeBidiStreamRequest(
        "/apiary.v1.QueenService/Heartbeat",
        (m: ReturnType<typeof create<typeof HeartbeatRequestSchema>>) => Buffer.from(toBinary(HeartbeatRequestSchema, m)),
        (b: Buffer) => b,
      );
      const received: Buffer[] = [];
      const gotThree = new Promise<void>((resolve, reject) => {
        stream.on("data", (b: Buffer) => {
          received.push(b);
          if (received.length === 3) resolve();
        });
        stream.on("error", reject);
      });
      stream.write(create(HeartbeatRequestSchema, { kind: { case: "hello", value: { hive: makeHiveInfo("g-old"), incarnation: "x" } } }));
      stream.write(create(HeartbeatRequestSchema, { kind: { case: "report", value: makeReport(1, [], [makeWorker("a"), makeWorker("b")]) } }));
      stream.write(create(HeartbeatRequestSchema, { kind: { case: "report", value: makeReport(2, [], [makeWorker("b")]) } }));
      await gotThree;
      stream.cancel();
      // An old client decodes the responses with a schema without the new fields: they are unknown
      // fields to it, and everything it knows is where it was.
      const responses: HeartbeatResponse[] = received.map((b) => fromBinary(HeartbeatResponseSchema, b));
      expect(responses[0].kind.case).toBe("welcome");
      expect(responses.slice(1).map((r) => (r.kind.case === "ack" ? r.kind.value.seq : -1n))).toEqual([1n, 2n]);
      // Acks without resync carry no bytes for it: byte-for-byte what an old queen sent.
      expect(received[2].length).toBe(toBinary(HeartbeatResponseSchema, create(HeartbeatResponseSchema, { kind: { case: "ack", value: { seq: 2n, revision: (responses[2].kind.value as { revision: bigint }).revision } } })).length);
      expect([...partialQueen.registry.hive("g-old")!.workers.keys()]).toEqual(["b"]);
    } finally {
      raw.close();
    }
  });
});
