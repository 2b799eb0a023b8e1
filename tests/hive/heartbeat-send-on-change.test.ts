import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { HeartbeatResponseSchema, QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { EngineKind, HiveReportSchema, ReportScope, type HiveReport } from "../../gen/apiary/v1/telemetry_pb.js";
import { HeartbeatClient, type HeartbeatClientOptions } from "../../src/hive/heartbeat-client.js";
import { ReportDelta } from "../../src/hive/report-delta.js";
import { startQueen } from "../../src/queen/queen.js";
import { startRpcServer } from "../../src/rpc/server.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { waitUntil } from "../helpers/wait.js";
import { GiB, makeDevice, makeHiveInfo, makeReport, makeWorker } from "../queen/helpers/telemetry-builders.js";

const quiet = pino({ level: "silent" });
const MiB = 1024n ** 2n;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function threeWorkers(): HiveReport {
  return makeReport(0, [makeDevice("h", 0, { usedGiB: 10, utilizationPct: 50 })], [makeWorker("w0"), makeWorker("w1"), makeWorker("w2")]);
}

describe("ReportDelta: what a hive sends under send-on-change", () => {
  it("sends a value again only once it leaves its deadband from the value last sent (drift accumulates)", () => {
    const delta = new ReportDelta(256n * GiB);
    const report = (cpu: number, vram: bigint, mem: bigint) => makeReport(0, [], [makeWorker("w", { cpuPct: cpu, vramUsedBytes: vram, memoryRssBytes: mem })]);
    expect(delta.next(report(50, GiB, 4n * GiB), 1n).scope).toBe(ReportScope.FULL);
    const small = delta.next(report(50.6, GiB + 32n * MiB, 4n * GiB + 20n * MiB), 2n);
    expect(small.scope).toBe(ReportScope.PARTIAL);
    expect(small.baseSeq).toBe(1n);
    expect(small.workers).toEqual([]);
    expect(small.hiveFieldsUnchanged).toBe(true);
    // 50 → 51.2: more than 1 pt from the 50 the queen holds, though only 0.6 from the last tick.
    const drifted = delta.next(report(51.2, GiB + 32n * MiB, 4n * GiB + 20n * MiB), 3n);
    expect(drifted.baseSeq).toBe(2n);
    expect(drifted.workers.map((w) => w.cpuPct)).toEqual([51.2]);
    expect(delta.next(report(51.2, GiB + 100n * MiB, 4n * GiB), 4n).workers.map((w) => w.vramUsedBytes)).toEqual([GiB + 100n * MiB]);
    expect(delta.next(report(51.2, GiB + 100n * MiB, 4n * GiB + 50n * MiB), 5n).workers).toHaveLength(1); // memory > 1 %
  });

  it("sends engine load on any change of running or waiting, and never for uptime or age alone", () => {
    const delta = new ReportDelta(256n * GiB);
    const report = (running: number, ageMs: number, uptimeMs: number) =>
      makeReport(0, [], [makeWorker("w", { uptime: durationFromMs(uptimeMs), engineLoad: { kind: EngineKind.VLLM, requestsRunning: running, requestsWaiting: 0, age: durationFromMs(ageMs) } })]);
    delta.next(report(1, 0, 1000), 1n);
    expect(delta.next(report(1, 40, 2000), 2n).workers).toEqual([]);
    expect(delta.next(report(2, 10, 3000), 3n).workers).toHaveLength(1);
  });

  it("reports removed workers as removed, new ones whole, and a change in the set of devices as a full report", () => {
    const delta = new ReportDelta(256n * GiB);
    delta.next(threeWorkers(), 1n);
    const next = threeWorkers();
    next.workers = [next.workers[0], next.workers[2], makeWorker("w3")];
    const sent = delta.next(next, 2n);
    expect(sent.removedWorkerIds).toEqual(["w1"]);
    expect(sent.workers.map((w) => w.workerId)).toEqual(["w3"]);
    const moreGpus = threeWorkers();
    moreGpus.devices.push(makeDevice("h", 1));
    expect(delta.next(moreGpus, 3n).scope).toBe(ReportScope.FULL);
  });

  it("sends a full report every full-report interval and after fullNext() (the queen's resync)", () => {
    let now = 0;
    const delta = new ReportDelta(256n * GiB, { fullReportIntervalMs: 30_000 }, () => now);
    expect(delta.next(threeWorkers(), 1n).scope).toBe(ReportScope.FULL);
    now = 29_000;
    expect(delta.next(threeWorkers(), 2n).scope).toBe(ReportScope.PARTIAL);
    now = 30_000;
    const full = delta.next(threeWorkers(), 3n);
    expect(full.scope).toBe(ReportScope.FULL);
    expect(full.workers).toHaveLength(3);
    expect(delta.next(threeWorkers(), 4n).scope).toBe(ReportScope.PARTIAL);
    delta.fullNext();
    expect(delta.next(threeWorkers(), 5n).scope).toBe(ReportScope.FULL);
  });
});

/** A Heartbeat endpoint that records what arrives; `partialReports` says whether it is a new queen. */
async function startRecordingQueen(partialReports: boolean) {
  const state = { reports: [] as HiveReport[], resyncNext: false };
  const impl: Partial<ServiceImpl<typeof QueenService>> = {
    async *heartbeat(requests) {
      for await (const request of requests) {
        if (request.kind.case === "hello") {
          yield create(HeartbeatResponseSchema, { kind: { case: "welcome", value: { reportInterval: durationFromMs(20), revision: 1n, epoch: "e", partialReports } } });
        } else if (request.kind.case === "report") {
          state.reports.push(request.kind.value);
          const resync = state.resyncNext;
          state.resyncNext = false;
          yield create(HeartbeatResponseSchema, { kind: { case: "ack", value: { seq: request.kind.value.seq, revision: 2n, resync } } });
        }
      }
    },
  };
  const server = await startRpcServer({ host: "127.0.0.1", port: 0, logger: quiet, services: [{ service: QueenService, impl }], shutdownGraceMs: 100 });
  cleanups.push(() => server.close());
  return { server, state };
}

function startHive(queenUrl: string, overrides: Partial<HeartbeatClientOptions> = {}): HeartbeatClient {
  const client = new HeartbeatClient({
    transport: createApiaryTransport(queenUrl),
    queenUrl,
    info: makeHiveInfo("h"),
    incarnation: "i-1",
    latestReport: threeWorkers,
    logger: quiet,
    ackDeadlineMs: 2000,
    backoffBaseMs: 20,
    backoffCapMs: 100,
    ...overrides,
  });
  cleanups.push(() => client.stop({ deadlineMs: 500 }));
  client.start();
  return client;
}

describe("HeartbeatClient under send-on-change", () => {
  it("sends only full reports to a queen that does not say partial_reports (an older queen)", async () => {
    const queen = await startRecordingQueen(false);
    startHive(queen.server.url);
    await waitUntil(() => queen.state.reports.length >= 5, "five reports");
    for (const r of queen.state.reports) {
      expect(r.scope).toBe(ReportScope.UNSPECIFIED);
      expect(r.workers).toHaveLength(3);
    }
  });

  it("sends one full report, then empty partial ones, and a full one again when an ack asks for resync", async () => {
    const queen = await startRecordingQueen(true);
    startHive(queen.server.url);
    await waitUntil(() => queen.state.reports.length >= 3, "three reports");
    const [first, ...rest] = queen.state.reports;
    expect(first.scope).toBe(ReportScope.FULL);
    expect(first.workers).toHaveLength(3);
    for (const r of rest) expect(r).toMatchObject({ scope: ReportScope.PARTIAL, workers: [], removedWorkerIds: [], hiveFieldsUnchanged: true });
    queen.state.resyncNext = true;
    const asked = queen.state.reports.length;
    await waitUntil(() => queen.state.reports.length >= asked + 3, "three reports after the resync");
    // The report acked with resync was partial; the one after the hive read that ack is full.
    const after = queen.state.reports.slice(asked);
    const fullAt = after.findIndex((r) => r.scope === ReportScope.FULL);
    expect(fullAt).toBeGreaterThan(0);
    expect(after[fullAt].workers).toHaveLength(3);
  });

  it("a Watch client sees one event per real change: none for values wobbling inside the deadband", async () => {
    const queen = await startQueen({ host: "127.0.0.1", port: 0, logger: quiet, shutdownGraceMs: 200, reportIntervalMs: 20 });
    cleanups.push(() => queen.close());
    const updates: number[] = [];
    queen.registry.subscribe((e) => {
      if (e.kind === "worker" && e.type === 2) updates.push(e.worker.cpuPct ?? -1);
    });
    let cpu = 50;
    let calls = 0;
    startHive(queen.url, {
      latestReport: () => makeReport(0, [], [makeWorker("w0", { cpuPct: cpu + (++calls % 2) * 0.4 })]),
    });
    const seq = () => queen.registry.hive("h")?.lastSeq ?? 0n;
    await waitUntil(() => seq() >= 10n, "ten reports applied");
    expect(updates).toEqual([]);
    cpu = 55;
    await waitUntil(() => updates.length > 0, "the change reaches the queen");
    const at = seq();
    await waitUntil(() => seq() >= at + 10n, "ten more reports applied");
    expect(updates).toHaveLength(1);
    expect(updates[0]).toBeGreaterThanOrEqual(55);
  });

  it("a restarted queen gets the whole hive again from the first report on the new stream", async () => {
    const first = await startQueen({ host: "127.0.0.1", port: 0, logger: quiet, shutdownGraceMs: 200, reportIntervalMs: 20 });
    const port = Number(new URL(first.url).port);
    startHive(first.url);
    await waitUntil(() => (first.registry.hive("h")?.lastSeq ?? 0n) >= 5n, "five reports applied");
    expect(first.registry.hive("h")!.workers.size).toBe(3);
    await first.close();
    const second = await startQueen({ host: "127.0.0.1", port, logger: quiet, shutdownGraceMs: 200, reportIntervalMs: 20 });
    cleanups.push(() => second.close());
    await waitUntil(() => (second.registry.hive("h")?.lastSeq ?? 0n) > 0n, "a report applied by the restarted queen");
    expect([...second.registry.hive("h")!.workers.keys()].sort()).toEqual(["w0", "w1", "w2"]);
    expect(second.registry.hive("h")!.devices).toHaveLength(1);
  });
});
