import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WatchKind, WatchRequestSchema, WatchResponseSchema, type WatchRequest, type WatchResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { startQueen, type Queen } from "../../../src/queen/queen.js";
import { newToken, tokenFileLine } from "../../../src/rpc/auth/token-store.js";
import { waitUntil } from "../../helpers/wait.js";
import { eventsOf } from "../helpers/watched-state.js";
import { makeHiveInfo, makeReport, makeWorker } from "../helpers/telemetry-builders.js";

// Watch for plain gRPC clients on raw HTTP/2 streams must answer as connect-node does: the same
// authorisation, validation, deadlines, cancellation and messages. Each case runs against a queen
// with the raw path and one with rawFastPaths: ["Heartbeat"] (Watch through connect-node).
const PATH = "/apiary.v1.QueenService/Watch";
const readerToken = newToken();
let dir: string;
let raw: Queen;
let viaConnect: Queen;

async function queenWith(rawPath: boolean): Promise<Queen> {
  const tokenFile = path.join(dir, "tokens");
  const rawFastPaths = rawPath ? true : ["Heartbeat"];
  return await startQueen({ host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }), shutdownGraceMs: 500, security: { tokenFile }, rawFastPaths });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "apiary-watch-raw-"));
  writeFileSync(path.join(dir, "tokens"), `${tokenFileLine("dash", "reader", readerToken)}\n`);
  raw = await queenWith(true);
  viaConnect = await queenWith(false);
  // Hives authenticate with certificates: this test's state goes into the registries directly.
  for (const queen of [raw, viaConnect]) {
    queen.registry.hello(makeHiveInfo("h1"), "i");
    queen.registry.applyReport("h1", "i", makeReport(1, [], [0, 1, 2].map((i) => makeWorker(`w${i}`, { model: `model-${i}` }))));
  }
});
afterAll(async () => {
  await raw?.close();
  await viaConnect?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Outcome {
  code: number;
  details: string;
  messages: WatchResponse[];
}

/** A grpc-js Watch (bytes in, bytes out): every message until snapshot_end (then cancelled), or the status. */
function watchUntilSnapshotEnd(queen: Queen, request: WatchRequest | Uint8Array, opts: { token?: string; deadlineMs?: number; keepOpen?: boolean } = {}): Promise<Outcome> {
  const client = new grpc.Client(`127.0.0.1:${queen.server.port}`, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if (opts.token) metadata.set("authorization", `Bearer ${opts.token}`);
  const bytes = request instanceof Uint8Array ? request : toBinary(WatchRequestSchema, request);
  const call = client.makeServerStreamRequest(PATH, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(bytes), metadata, opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {});
  const messages: WatchResponse[] = [];
  return new Promise<Outcome>((resolve) => {
    call.on("error", () => {});
    call.on("data", (b: Buffer) => {
      const m = fromBinary(WatchResponseSchema, b);
      messages.push(m);
      if (m.kind.case === "snapshotEnd" && !opts.keepOpen) call.cancel();
    });
    call.on("status", (s: grpc.StatusObject) => {
      client.close();
      resolve({ code: s.code, details: s.details, messages });
    });
  });
}

/** What a watcher learns, without the per-queen epoch and revisions. */
function contentOf(messages: WatchResponse[]): string[] {
  return messages.flatMap((m) => [`${m.kind.case}${m.snapshot ? " (snapshot)" : ""}`, ...eventsOf(m).map((e) => (e.worker ? `worker ${e.hiveId}/${e.worker.workerId} ${e.worker.model}` : `hive ${e.hiveId}`))]);
}

describe("raw gRPC Watch", () => {
  it("a reader gets the same snapshot as through connect-node, batched and not", async () => {
    for (const maxBatch of [0, 16]) {
      const request = create(WatchRequestSchema, { maxBatch });
      const expected = await watchUntilSnapshotEnd(viaConnect, request, { token: readerToken });
      const got = await watchUntilSnapshotEnd(raw, request, { token: readerToken });
      expect(expected.code).toBe(grpc.status.CANCELLED);
      expect(contentOf(got.messages)).toEqual(contentOf(expected.messages));
      expect(contentOf(got.messages)).toContain("worker h1/w2 model-2");
      expect(got.messages.at(-1)?.epoch).toBe(raw.epoch);
    }
  });

  const refusals: [string, () => WatchRequest | Uint8Array, string | undefined, number][] = [
    ["no token", () => create(WatchRequestSchema, {}), undefined, grpc.status.UNAUTHENTICATED],
    ["an unknown token", () => create(WatchRequestSchema, {}), newToken(), grpc.status.UNAUTHENTICATED],
    ["an invalid field", () => create(WatchRequestSchema, { minUpdateInterval: { seconds: -1n } }), readerToken, grpc.status.INVALID_ARGUMENT],
    ["a kind out of range", () => create(WatchRequestSchema, { kinds: [99 as WatchKind] }), readerToken, grpc.status.INVALID_ARGUMENT],
  ];
  for (const [name, request, token, code] of refusals) {
    it(`${name}: ${grpc.status[code]} with the same message as through connect-node`, async () => {
      const expected = await watchUntilSnapshotEnd(viaConnect, request(), { token });
      const got = await watchUntilSnapshotEnd(raw, request(), { token });
      expect(expected.code).toBe(code);
      expect({ code: got.code, details: got.details, messages: got.messages.length }).toEqual({ code: expected.code, details: expected.details, messages: 0 });
    });
  }

  it("bytes that are no WatchRequest: INVALID_ARGUMENT naming the request (the raw path's own answer)", async () => {
    const got = await watchUntilSnapshotEnd(raw, Uint8Array.of(0x0a, 0xff), { token: readerToken });
    expect(got.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(decodeURIComponent(got.details)).toMatch(/^watch: cannot decode the request/);
  });

  it("a deadline ends the stream with DEADLINE_EXCEEDED, and the watcher leaves the hub", async () => {
    const got = await watchUntilSnapshotEnd(raw, create(WatchRequestSchema, {}), { token: readerToken, deadlineMs: 300, keepOpen: true });
    expect(got.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(got.messages.some((m) => m.kind.case === "snapshotEnd")).toBe(true);
    await waitUntil(() => raw.hub.stats().length === 0, "the watch session closed");
  });

  it("a cancelled watcher leaves the hub", async () => {
    const got = await watchUntilSnapshotEnd(raw, create(WatchRequestSchema, {}), { token: readerToken });
    expect(got.code).toBe(grpc.status.CANCELLED);
    await waitUntil(() => raw.hub.stats().length === 0, "the watch session closed");
  });
});
