import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { HeartbeatResponseSchema, QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { HiveInfoSchema, HiveReportSchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { HeartbeatClient, type HeartbeatClientOptions } from "../../src/hive/heartbeat-client.js";
import { startRpcServer, type RpcServer } from "../../src/rpc/server.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { captureLogs, nextEvent } from "./hive-test-helpers.js";
import { waitUntil } from "../helpers/wait.js";

const quiet = pino({ level: "silent" });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A bare Heartbeat endpoint whose acking can be switched off, for the failure
 * cases a well-behaved queen never produces. Everything else uses the real queen.
 */
interface AckSwitchServer {
  server: RpcServer;
  hellos: number;
  reports: number;
  goodbyes: number;
  acking: boolean;
  /** After a goodbye, keep the stream open instead of ending it. */
  holdAfterGoodbye: boolean;
}

async function startAckSwitchServer(port = 0, reportIntervalMs = 50): Promise<AckSwitchServer> {
  const state = { hellos: 0, reports: 0, goodbyes: 0, acking: true, holdAfterGoodbye: false } as AckSwitchServer;
  const impl: Partial<ServiceImpl<typeof QueenService>> = {
    async *heartbeat(requests, context) {
      for await (const request of requests) {
        if (request.kind.case === "hello") {
          state.hellos += 1;
          yield create(HeartbeatResponseSchema, {
            kind: { case: "welcome", value: { reportInterval: durationFromMs(reportIntervalMs), revision: 1n, epoch: "test" } },
          });
        } else if (request.kind.case === "report") {
          state.reports += 1;
          if (state.acking) yield create(HeartbeatResponseSchema, { kind: { case: "ack", value: { seq: request.kind.value.seq, revision: 2n } } });
        } else if (request.kind.case === "goodbye") {
          state.goodbyes += 1;
          if (state.holdAfterGoodbye) await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
          return;
        }
      }
    },
  };
  state.server = await startRpcServer({ host: "127.0.0.1", port, logger: quiet, services: [{ service: QueenService, impl }], shutdownGraceMs: 100 });
  cleanups.push(() => state.server.close());
  return state;
}

function startClient(queenUrl: string, overrides: Partial<HeartbeatClientOptions> = {}): HeartbeatClient {
  const client = new HeartbeatClient({
    transport: createApiaryTransport(queenUrl, { pingIntervalMs: 1000, pingTimeoutMs: 1000 }),
    queenUrl,
    info: create(HiveInfoSchema, { hiveId: "hive-under-test", hostname: "test" }),
    incarnation: "incarnation-1",
    latestReport: () => create(HiveReportSchema, { seq: 999n }),
    logger: quiet,
    reportIntervalMs: 1000,
    ackDeadlineMs: 500,
    ...overrides,
  });
  cleanups.push(() => client.stop({ deadlineMs: 500 }));
  client.start();
  return client;
}

describe("HeartbeatClient", () => {
  it("says hello, then reports at the interval from the welcome with its own increasing seq", async () => {
    const queen = await startAckSwitchServer(0, 50);
    const client = startClient(queen.server.url, { reportIntervalMs: 60_000 });
    const seqs: bigint[] = [];
    client.on("ack", (ack) => seqs.push(ack.seq));
    await nextEvent(client, "connected");
    expect(client.connected).toBe(true);
    await waitUntil(() => seqs.length >= 5, "five acks at the welcome's 50 ms interval");
    expect(seqs.slice(0, 5)).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(client.currentReportIntervalMs).toBe(50);
    expect(client.lastAckRevision).toBe(2n);
    expect(queen.hellos).toBe(1);
  });

  it("hands back each acked report, never one the queen did not ack", async () => {
    const queen = await startAckSwitchServer(0, 50);
    let produced = 0;
    const delivered: bigint[] = [];
    const client = startClient(queen.server.url, {
      latestReport: () => create(HiveReportSchema, { seq: BigInt(++produced) }),
      onDelivered: (report) => delivered.push(report.seq),
    });
    await waitUntil(() => delivered.length >= 3, "three delivered reports");
    expect(delivered.slice(0, 3)).toEqual([1n, 2n, 3n]);
    queen.acking = false;
    const before = queen.reports;
    const count = delivered.length;
    await waitUntil(() => queen.reports >= before + 2, "two reports the queen leaves unacked");
    expect(delivered.length).toBeLessThanOrEqual(count + 1); // one ack may have been on its way
    await client.stop({ deadlineMs: 500 });
  });

  it("drops a stream whose acks stop after the ack deadline and reconnects by itself", async () => {
    const queen = await startAckSwitchServer();
    const client = startClient(queen.server.url, { ackDeadlineMs: 300, backoffBaseMs: 10, backoffCapMs: 50 });
    await nextEvent(client, "ack");
    queen.acking = false;
    const reason = await nextEvent<Error>(client, "disconnected");
    expect(reason.message).toMatch(/no ack for report \d+ within the ack deadline of 300 ms/);
    expect(client.connected).toBe(false);
    await nextEvent(client, "connected");
    expect(queen.hellos).toBe(2);
    queen.acking = true;
    await nextEvent(client, "ack");
    expect(client.connected).toBe(true);
  });

  it("backs off from a refused connection, warns once, and connects when the queen appears", async () => {
    const probe = await startAckSwitchServer();
    const port = probe.server.port;
    await probe.server.close(); // nothing listens on this port now
    const logs = captureLogs();
    const client = startClient(`http://127.0.0.1:${port}`, { logger: logs.logger, backoffBaseMs: 10, backoffCapMs: 100 });
    await waitUntil(() => client.attempts >= 10, "ten refused attempts");
    expect(logs.warnings(/heartbeat to queen failed/)).toHaveLength(1);
    expect(client.connected).toBe(false);

    const queen = await startAckSwitchServer(port);
    await nextEvent(client, "ack", 15_000);
    expect(queen.hellos).toBe(1);
    await waitUntil(() => logs.lines.some((l) => l.msg === "heartbeat to queen restored"), "the recovery line");
    expect(logs.warnings(/heartbeat to queen failed/)).toHaveLength(1);
  });

  it("sends goodbye on stop, and stop is bounded when the queen never closes the stream", async () => {
    const queen = await startAckSwitchServer();
    queen.holdAfterGoodbye = true;
    const client = startClient(queen.server.url);
    await nextEvent(client, "connected");
    await client.stop({ deadlineMs: 300 }); // resolves although the stream stays open on the queen's side
    expect(queen.goodbyes).toBe(1);
    const attempts = client.attempts;
    expect(client.connected).toBe(false);
    await client.stop(); // idempotent
    expect(client.attempts).toBe(attempts);
  });
});
