import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  FindWorkersRequestSchema,
  FindWorkersResponseSchema,
  HeartbeatRequestSchema,
  HeartbeatResponseSchema,
  HiveHealth,
  type HeartbeatResponse,
  type QueenService,
} from "../../../gen/apiary/v1/queen_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import { waitUntil } from "../../helpers/wait.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { makeHiveInfo, makeReport, makeWorker, syntheticReport } from "../helpers/telemetry-builders.js";
import { TestHive } from "../helpers/test-hive.js";
import { captureLogs } from "../../hive/hive-test-helpers.js";
import { GpuProbeState, WorkerState, type HiveReport } from "../../../gen/apiary/v1/telemetry_pb.js";
import { makeDevice } from "../helpers/telemetry-builders.js";

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A report whose values are drawn from edges: huge, negative, NaN, empty, unicode, control characters, unknown enums. */
function oddReport(random: () => number, seq: number): HiveReport {
  const pick = <T>(values: T[]): T => values[Math.floor(random() * values.length)];
  const text = () => pick(["", "a", "team x", "ü-模型", "\u0000", "x".repeat(2000), "GPU-0", "..", "a,b", "\n"]);
  const num = () => pick([0, 1, -1, 50, 100, 101, 1e300, NaN, Infinity, -Infinity, 2 ** 31, 0.5]);
  const big = () => pick([0n, 1n, 2n ** 40n, 2n ** 63n, 2n ** 64n - 1n]);
  const maybe = <T>(f: () => T): T | undefined => (random() < 0.5 ? f() : undefined);
  const workers = Array.from({ length: Math.floor(random() * 5) }, (_, i) =>
    makeWorker(random() < 0.7 ? `w${i}` : text(), {
      pid: pick([0, 1, -1, 2 ** 31 - 1]),
      model: text(),
      gpuUuids: random() < 0.5 ? [] : [text()],
      state: pick([0, 1, 2, 3, 4, 5, 99]) as WorkerState,
      cpuPct: maybe(num),
      memoryRssBytes: maybe(big),
      ioReadBytesPerSec: maybe(num),
      gpuUtilizationPct: maybe(num),
      vramUsedBytes: maybe(big),
      exitCode: maybe(() => pick([0, 1, -1, 255])),
      exitSignal: text(),
      labels: random() < 0.5 ? {} : { [text()]: text() },
      argv: random() < 0.5 ? [] : [text()],
      startedAt: random() < 0.5 ? undefined : { seconds: pick([0n, -1n, 2n ** 40n]), nanos: pick([0, -1, 2e9]) },
      reason: text(),
    }),
  );
  const devices = random() < 0.5 ? [] : [makeDevice("odd", 0, { utilizationPct: maybe(num) })];
  const report = makeReport(seq, devices, workers);
  report.memoryAvailableBytes = maybe(big);
  report.gpuProbe = { $typeName: "apiary.v1.GpuProbeStatus", state: pick([0, 1, 4, 7]) as GpuProbeState, message: text() };
  return report;
}

let queen: Queen;
let client: Client<typeof QueenService>;

beforeEach(async () => {
  ({ queen, client } = await startTestQueen({ healthyMs: 300, degradedMs: 600, evictAfterMs: 600, sweepIntervalMs: 20 }));
});
afterEach(async () => {
  await queen.close();
});

describe("Heartbeat", () => {
  it("welcomes a hive and acks each report with the revision after it", async () => {
    const hive = await TestHive.connect(queen.url, "h1");
    expect(hive.welcome.epoch).toBe(queen.epoch);
    expect(hive.welcome.reportInterval?.seconds).toBe(1n);
    expect(hive.welcome.revision).toBe(1n);
    const ack = await hive.reportSynthetic({ workers: 3, gpus: 2 });
    expect(ack.seq).toBe(1n);
    expect(ack.revision).toBe(BigInt(queen.registry.revision()));
    expect((await client.findWorkers({ model: "model-1" })).matches.map((m) => m.worker!.workerId)).toEqual(["w1"]);
    hive.abort();
  });

  it("goodbye evicts the hive at once and ends the stream OK", async () => {
    const hive = await TestHive.connect(queen.url, "h1");
    await hive.reportSynthetic({ workers: 2, gpus: 1 });
    await hive.goodbye("shutdown");
    expect(queen.registry.hive("h1")).toBeUndefined();
    expect((await client.findWorkers({ includeDegraded: true })).matches).toEqual([]);
  });

  it("a broken stream makes the hive DEGRADED at once; the sweeper then evicts it", async () => {
    const hive = await TestHive.connect(queen.url, "h1");
    await hive.reportSynthetic({ workers: 2, gpus: 1 });
    hive.abort();
    await waitUntil(() => queen.registry.hive("h1")?.connected === false, "hive disconnected");
    expect([HiveHealth.DEGRADED, HiveHealth.DOWN]).toContain(queen.registry.hive("h1")!.health);
    expect((await client.findWorkers({})).matches).toEqual([]);
    await waitUntil(() => queen.registry.hive("h1") === undefined, "hive evicted", 10_000);
    expect((await client.findWorkers({ includeDegraded: true })).matches).toEqual([]);
    expect(queen.registry.workerCount()).toBe(0);
  });

  it("a clean half-close without goodbye is a broken stream too", async () => {
    const hive = await TestHive.connect(queen.url, "h1");
    await hive.halfClose();
    expect(queen.registry.hive("h1")!.connected).toBe(false);
  });

  it("a newer stream for the same hive replaces the older one, which ends ABORTED", async () => {
    const old = await TestHive.connect(queen.url, "h1", { incarnation: "one" });
    await old.reportSynthetic({ workers: 3, gpus: 1 });
    const fresh = await TestHive.connect(queen.url, "h1", { incarnation: "two" });
    const err = await old.next().then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.Aborted);
    await fresh.report(makeReport(1, [], [makeWorker("w0")]));
    const hive = queen.registry.hive("h1")!;
    expect(hive.incarnation).toBe("two");
    expect(hive.connected).toBe(true);
    expect([...hive.workers.keys()]).toEqual(["w0"]);
    fresh.abort();
  });

  it("answers a report for a hive evicted meanwhile with FAILED_PRECONDITION saying so, not INTERNAL", async () => {
    const hive = await TestHive.connect(queen.url, "h-evicted");
    await hive.reportSynthetic({ workers: 1, gpus: 1 });
    // What the sweeper does to a hive silent past the eviction delay, while its stream stays open.
    queen.registry.evict("h-evicted", "down too long");
    hive.send({ case: "report", value: syntheticReport({ hiveId: "h-evicted", seq: 2, workers: 1, gpus: 1 }) });
    const err = await hive.next().then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err && Code[err.code]).toBe(Code[Code.FailedPrecondition]);
    expect(err?.rawMessage).toMatch(/hive h-evicted was evicted.*hello again/);
    expect(queen.registry.hive("h-evicted")).toBeUndefined();
    // A fresh hello brings it back.
    const again = await TestHive.connect(queen.url, "h-evicted");
    await again.reportSynthetic({ workers: 1, gpus: 1 });
    expect(queen.registry.hive("h-evicted")?.connected).toBe(true);
    again.abort();
  });

  it("logs left-out worker entries once per change, not once per report", async () => {
    const logs = captureLogs("info");
    const { queen: q } = await startTestQueen({ logger: logs.logger });
    try {
      const hive = await TestHive.connect(q.url, "h-log");
      const bad = makeWorker("bad", { labels: { "team x": "a" } });
      for (let seq = 1; seq <= 5; seq++) await hive.report(makeReport(seq, [], [makeWorker("good"), bad]));
      const other = makeWorker("bad", { model: "m".repeat(2000) });
      for (let seq = 6; seq <= 8; seq++) await hive.report(makeReport(seq, [], [makeWorker("good"), other]));
      for (let seq = 9; seq <= 10; seq++) await hive.report(makeReport(seq, [], [makeWorker("good")]));
      const left = logs.lines.filter((l) => l.msg === "worker entries left out of the hive's reports");
      expect(left).toHaveLength(2);
      expect(JSON.stringify(left[0].rejected)).toMatch(/team x/);
      expect(JSON.stringify(left[1].rejected)).toMatch(/model: must be at most 1024/);
      expect(logs.lines.filter((l) => l.msg === "every worker entry of the hive's reports is valid again")).toHaveLength(1);
      hive.abort();
    } finally {
      await q.close();
    }
  });

  it("never answers INTERNAL to a decodable report, however odd its values", async () => {
    const logs = captureLogs("error");
    const { queen: q } = await startTestQueen({ logger: logs.logger });
    const random = seeded(8);
    try {
      for (let round = 0; round < 40; round++) {
        const hive = await TestHive.connect(q.url, `odd-${round % 3}`);
        for (let seq = 1; seq <= 5; seq++) {
          hive.send({ case: "report", value: oddReport(random, seq) });
          const outcome = await hive.next().then(
            (r) => (r.done ? "end" : r.value.kind.case),
            (e: unknown) => Code[ConnectError.from(e).code],
          );
          expect(["ack", Code[Code.InvalidArgument]]).toContain(outcome);
          if (outcome !== "ack") break;
        }
        hive.abort();
      }
      expect(logs.lines.filter((l) => l.msg === "unexpected error in an RPC handler")).toEqual([]);
    } finally {
      await q.close();
    }
  });

  it("keeps reporting hives HEALTHY while a silent one is evicted", async () => {
    const live = await TestHive.connect(queen.url, "live");
    const silent = await TestHive.connect(queen.url, "silent");
    await silent.reportSynthetic({ workers: 1, gpus: 1 });
    let tick = 0;
    while (queen.registry.hive("silent") !== undefined) {
      await live.reportSynthetic({ workers: 1, gpus: 1, tick: tick++ });
      expect(queen.registry.hive("live")!.health).toBe(HiveHealth.HEALTHY);
      if (tick > 2_000) throw new Error("silent hive never evicted");
      await new Promise((r) => setTimeout(r, 20)); // report pacing, like a real hive's interval
    }
    live.abort();
    silent.abort();
  });
});

describe("interop with @grpc/grpc-js", () => {
  it("calls FindWorkers and runs a Heartbeat stream", async () => {
    const target = queen.url.replace("http://", "");
    const raw = new grpc.Client(target, grpc.credentials.createInsecure());
    try {
      const hello = create(HeartbeatRequestSchema, { kind: { case: "hello", value: { hive: makeHiveInfo("g1"), incarnation: "x" } } });
      const report = create(HeartbeatRequestSchema, { kind: { case: "report", value: syntheticReport({ hiveId: "g1", seq: 7, workers: 2, gpus: 1 }) } });
      const stream = raw.makeBidiStreamRequest(
        "/apiary.v1.QueenService/Heartbeat",
        (m: typeof hello) => Buffer.from(toBinary(HeartbeatRequestSchema, m)),
        (b: Buffer) => fromBinary(HeartbeatResponseSchema, b),
      );
      const received: HeartbeatResponse[] = [];
      const gotTwo = new Promise<void>((resolve, reject) => {
        stream.on("data", (m: HeartbeatResponse) => {
          received.push(m);
          if (received.length === 2) resolve();
        });
        stream.on("error", reject);
      });
      stream.write(hello);
      stream.write(report);
      await gotTwo;
      expect(received[0].kind.case).toBe("welcome");
      expect(received[1].kind).toMatchObject({ case: "ack", value: { seq: 7n } });
      stream.cancel();

      const res = await new Promise<ReturnType<typeof fromBinary<typeof FindWorkersResponseSchema>>>((resolve, reject) =>
        raw.makeUnaryRequest(
          "/apiary.v1.QueenService/FindWorkers",
          (m: ReturnType<typeof create<typeof FindWorkersRequestSchema>>) => Buffer.from(toBinary(FindWorkersRequestSchema, m)),
          (b: Buffer) => fromBinary(FindWorkersResponseSchema, b),
          create(FindWorkersRequestSchema, { hiveIds: ["g1"], includeDegraded: true }),
          (err, value) => (err ? reject(err) : resolve(value!)),
        ),
      );
      expect(res.matches.map((m) => m.worker!.workerId)).toEqual(["w0", "w1"]);
    } finally {
      raw.close();
    }
  });
});
