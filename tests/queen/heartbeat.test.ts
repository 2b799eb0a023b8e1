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
} from "../../gen/apiary/v1/queen_pb.js";
import type { Queen } from "../../src/queen/queen.js";
import { waitUntil } from "../helpers/wait.js";
import { startTestQueen } from "./helpers/queen-fixture.js";
import { makeHiveInfo, makeReport, makeWorker, syntheticReport } from "./helpers/telemetry-builders.js";
import { TestHive } from "./helpers/test-hive.js";

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
