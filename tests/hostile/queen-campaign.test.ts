import { connect as h2connect } from "node:http2";
import type { Socket } from "node:net";
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { QueenPeerService } from "../../gen/apiary/v1/queen_peer_pb.js";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { ApiaryProcess } from "../e2e/helpers/apiary-process.js";
import { TestHive } from "../queen/helpers/test-hive.js";
import { queenLoopDelay } from "./support/loop-delay.js";
import { grpcCall, hello, PREFACE, rawConnect, rstStream, writeGarbage } from "./support/raw-h2.js";
import { HOSTILE_SEED, describeCodes, fuzzServices } from "./support/message-fuzz.js";
import { heartbeatMisuse } from "./support/heartbeat-misuse.js";

// One long-lived queen process (its loop is the one that must keep turning), a few hundred
// simulated workers so a Watch snapshot is larger than the per-turn budget, a control hive
// reporting every second; then hostile clients in sequence. After each step another client's
// Health check and FindWorkers must complete within their deadline (a Connect timeout, awaited
// as the call's own rejection), FindWorkers must list the control hive's workers exactly, and the
// queen's own event-loop delay since the previous step must stay below the stall threshold.

const ANSWER_DEADLINE_MS = 2_000;
// The promise for every step (issue: event-loop delay max < 500 ms); p99 is reported, not held: a
// step's window is too short for a p99 apart from its max.
const LOOP_DELAY_MAX_S = 0.5;
const CONTROL_MODEL = "control-model";
const CONTROL_WORKERS = 8;
const QUEEN_MAX_MESSAGE_BYTES = 4 * 1024 * 1024; // the queen's default --max-message-bytes

let queen: ApiaryProcess;
let url: string;
let authority: string;
const hives: TestHive[] = [];
let controlTimer: NodeJS.Timeout | undefined;
const sockets: Socket[] = [];

/** The queen answers a fresh client: health SERVING, FindWorkers exact, loop delay bounded. */
async function expectAnswering(step: string): Promise<void> {
  const transport = createApiaryTransport(url);
  const health = await createClient(Health, transport).check({}, { timeoutMs: ANSWER_DEADLINE_MS });
  expect(health.status, `${step}: health`).toBe(ServingStatus.SERVING);
  const found = await createClient(QueenService, transport).findWorkers({ model: CONTROL_MODEL }, { timeoutMs: ANSWER_DEADLINE_MS });
  expect(found.matches.map((m) => m.worker!.workerId).sort(), `${step}: FindWorkers`).toEqual(Array.from({ length: CONTROL_WORKERS }, (_, i) => `w${i}`).sort());
  const delay = await queenLoopDelay(url, ANSWER_DEADLINE_MS);
  if (process.env.HOSTILE_REPORT) process.stderr.write(`hostile ${step}: loop delay p99 ${(delay.p99 * 1000).toFixed(1)} ms, max ${(delay.max * 1000).toFixed(1)} ms\n`);
  expect(delay.max, `${step}: event-loop delay max (s)`).toBeLessThan(LOOP_DELAY_MAX_S);
}

async function rawSession(): Promise<Socket> {
  const socket = await rawConnect(url);
  socket.on("error", () => {});
  sockets.push(socket);
  return socket;
}

beforeAll(async () => {
  queen = ApiaryProcess.start(["queen", "--port", "0", "--stall-exit-after", "20s"], { APIARY_LOG_LEVEL: "warn" });
  url = await queen.listeningUrl("queen");
  authority = new URL(url).host;
  for (let i = 0; i < 3; i++) {
    const hive = await TestHive.connect(url, `bulk-${i}`);
    await hive.reportSynthetic({ workers: 300, gpus: 2 });
    hives.push(hive);
  }
  const control = await TestHive.connect(url, "control");
  hives.push(control);
  const report = () => control.reportSynthetic({ workers: CONTROL_WORKERS, gpus: 1, model: () => CONTROL_MODEL }).catch(() => {});
  await report();
  controlTimer = setInterval(report, 1_000);
  await expectAnswering("start");
}, 60_000);

afterAll(async () => {
  clearInterval(controlTimer);
  for (const s of sockets) s.destroy();
  for (const h of hives) h.abort();
  if (queen) {
    queen.signal("SIGTERM"); // already gone when the last step passed
    const timer = setTimeout(() => queen.signal("SIGKILL"), 20_000);
    await queen.exited;
    clearTimeout(timer);
  }
});

// Each step's loop delay is its own: the window opens when the step starts (a stall a failed step
// left still running is waited out here, not charged to the next step).
beforeEach(async () => {
  await queenLoopDelay(url, 30_000).catch(() => {});
}, 40_000);

describe("hostile clients against one long-lived queen", () => {
  it("rapid reset: 1,000 Watch streams opened and reset at once during a 900-worker snapshot", async () => {
    const socket = await rawSession();
    const burst: Buffer[] = [hello()];
    for (let i = 0; i < 1_000; i++) {
      const id = 1 + 2 * i;
      burst.push(grpcCall(id, "/apiary.v1.QueenService/Watch", authority), rstStream(id));
    }
    socket.write(Buffer.concat(burst));
    await expectAnswering("rapid reset");
  });

  for (const protocol of ["grpc-gzip", "grpc-web", "connect"] as const) {
    it(`rapid reset through connect-node (${protocol}): 1,000 Watch streams opened and reset at once`, async () => {
      const socket = await rawSession();
      const burst: Buffer[] = [hello()];
      for (let i = 0; i < 1_000; i++) {
        const id = 1 + 2 * i;
        burst.push(grpcCall(id, "/apiary.v1.QueenService/Watch", authority, new Uint8Array(), protocol), rstStream(id));
      }
      socket.write(Buffer.concat(burst));
      await expectAnswering(`rapid reset ${protocol}`);
    });
  }

  it("a burst of 1,000 Watch streams opened at once and kept, then the connection dropped", async () => {
    const socket = await rawSession();
    const burst: Buffer[] = [hello()];
    for (let i = 0; i < 1_000; i++) burst.push(grpcCall(1 + 2 * i, "/apiary.v1.QueenService/Watch", authority));
    socket.write(Buffer.concat(burst));
    await expectAnswering("burst of kept Watch streams");
    socket.destroy();
    await expectAnswering("burst of Watch streams dropped");
  });

  it("10 watchers that never read (TCP buffers full) and stay open", async () => {
    for (let i = 0; i < 10; i++) {
      const socket = await rawSession();
      socket.pause(); // never reads: the queen's writes back up into its own buffers
      socket.write(Buffer.concat([hello(), grpcCall(1, "/apiary.v1.QueenService/Watch", authority)]));
    }
    await expectAnswering("never-reading watchers");
  });

  it("200 idle TCP connections and 50 half-open ones (preface, then FIN)", async () => {
    for (let i = 0; i < 200; i++) await rawSession();
    for (let i = 0; i < 50; i++) (await rawSession()).end(PREFACE);
    await expectAnswering("idle and half-open connections");
  });

  it("garbage: a 16 MiB frame header, DATA on an idle stream, bad HPACK, random bytes over HTTP/1.1 and HTTP/2", async () => {
    await writeGarbage(rawSession, HOSTILE_SEED);
    await expectAnswering("garbage frames");
  });

  it("thousands of streams opened and abandoned (the connections dropped without a reset)", async () => {
    for (let c = 0; c < 4; c++) {
      const socket = await rawSession();
      const calls: Buffer[] = [hello()];
      for (let i = 0; i < 500; i++) calls.push(grpcCall(1 + 2 * i, "/apiary.v1.QueenService/Watch", authority));
      socket.write(Buffer.concat(calls), () => socket.destroy());
    }
    // And over a real HTTP/2 client: 1,000 Watch calls left open, then the session destroyed.
    const session = h2connect(url);
    session.on("error", () => {});
    for (let i = 0; i < 1_000; i++) {
      const stream = session.request({ ":method": "POST", ":path": "/apiary.v1.QueenService/Watch", "content-type": "application/grpc", te: "trailers" });
      stream.on("error", () => {});
      stream.end(Buffer.alloc(5));
    }
    // Over the streams-per-connection cap the queen may close this connection instead of settling it.
    await new Promise<void>((resolve) => {
      session.once("remoteSettings", () => resolve());
      session.once("close", () => resolve());
    });
    session.destroy();
    await expectAnswering("abandoned streams");
  });

  it(`every method of QueenService, QueenPeerService, Health and reflection: random, truncated, extreme, invalid UTF-8, out-of-range and oversized messages over gRPC, Connect binary and Connect JSON (HOSTILE_SEED=${HOSTILE_SEED})`, async () => {
    const result = await fuzzServices(url, [QueenService, QueenPeerService, Health, ReflectionV1, ReflectionV1alpha], HOSTILE_SEED, {
      readMaxBytes: QUEEN_MAX_MESSAGE_BYTES,
      unserved: [QueenPeerService], // served only by a queen on a cluster store
    });
    if (process.env.HOSTILE_REPORT) process.stderr.write(`hostile message fuzz: ${result.calls} calls: ${describeCodes(result)}\n`);
    expect(result.failures, `HOSTILE_SEED=${HOSTILE_SEED}`).toEqual([]);
    await expectAnswering("message fuzz");
  }, 60_000);

  it("Heartbeat protocol misuse: report before hello, two hellos, another hive's report, a wrong base_seq, unknown removed workers, too many workers, a stream cut half-way", async () => {
    const outcomes = await heartbeatMisuse(url);
    if (process.env.HOSTILE_REPORT) process.stderr.write(`hostile heartbeat misuse: ${JSON.stringify(outcomes.outcomes)}\n`);
    expect(outcomes.failures, `HOSTILE_SEED=${HOSTILE_SEED}`).toEqual([]);
    await expectAnswering("heartbeat misuse");
  });

  it("after all of it, SIGTERM stops the queen cleanly within its grace period", async () => {
    queen.signal("SIGTERM");
    const timer = setTimeout(() => queen.signal("SIGKILL"), 20_000);
    const { code, signal } = await queen.exited;
    clearTimeout(timer);
    expect(signal).toBeNull();
    expect(code).toBe(0);
  }, 30_000);
});
