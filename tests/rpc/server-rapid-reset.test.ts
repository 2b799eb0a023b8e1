import type { Socket } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient, type ServiceImpl } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import {
  HiveService,
  StreamWorkerLogsRequestSchema,
  StreamWorkerLogsResponseSchema,
  type StreamWorkerLogsRequest,
  type StreamWorkerLogsResponse,
} from "../../gen/apiary/v1/hive_pb.js";
import type { FastPath } from "../../src/rpc/fast-path.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { grpcCall, hello, ping, pingAcked, rawConnect, rstStream, type StreamingProtocol } from "../hostile/support/raw-h2.js";
import { startTestServer } from "./support/start-test-server.js";

// HTTP/2 rapid reset on a fast path: a client opens streams and resets them in the same write.
// Such a stream must cost the server no decoder, no handler context and no handler call (with
// 1,000 Watch streams, each starting a snapshot, the queen's loop stalled for seconds). Streams
// of the same write that are not reset must still be served.

const PATH = "/apiary.v1.HiveService/StreamWorkerLogs";
// As many as the hostile campaign's step: a burst this size spans several reads, where before the
// fix about two in three reset streams still started a handler (a burst of 100 started none).
const RESETS = 1_000;
// A stream whose HEADERS end one socket read and whose RST_STREAM starts the next may get its turn
// in between and start, as a client that resets a started call does: at most one per read. Reads
// are at least this large on loopback.
const SMALLEST_READ_BYTES = 16 * 1024;
const startsAllowedAtReadEdges = (burst: Buffer[]) => Math.ceil(Buffer.concat(burst).length / SMALLEST_READ_BYTES);

let server: RpcServer | undefined;
let socket: Socket | undefined;
afterEach(async () => {
  socket?.destroy();
  await server?.close();
  server = undefined;
});

/** RESETS streams opened and reset, then 3 kept, in one write; resolved once the server has read all of it (PING ACK). */
async function sendResetBurst(url: string, protocol: StreamingProtocol): Promise<Buffer[]> {
  socket = await rawConnect(url);
  socket.on("error", () => {});
  const authority = new URL(url).host;
  const request = toBinary(StreamWorkerLogsRequestSchema, create(StreamWorkerLogsRequestSchema, { workerId: "w-1" }));
  const burst: Buffer[] = [hello()];
  for (let i = 0; i < RESETS; i++) burst.push(grpcCall(1 + 2 * i, PATH, authority, request, protocol), rstStream(1 + 2 * i));
  for (let i = RESETS; i < RESETS + 3; i++) burst.push(grpcCall(1 + 2 * i, PATH, authority, request, protocol));
  const payload = Buffer.from("rapidrst");
  burst.push(ping(payload));
  const acked = pingAcked(socket, payload);
  socket.write(Buffer.concat(burst));
  await acked;
  return burst;
}

describe("rapid reset on a fast path", () => {
  it("streams reset in the same write as their HEADERS start no handler; the others are served", async () => {
    const counts = { decoders: 0, calls: 0 };
    async function* logsOf(request: StreamWorkerLogsRequest): AsyncGenerator<StreamWorkerLogsResponse> {
      counts.calls++;
      yield create(StreamWorkerLogsResponseSchema, { logPath: request.workerId });
    }
    const fastPath: FastPath<typeof StreamWorkerLogsRequestSchema, typeof StreamWorkerLogsResponseSchema> = {
      method: HiveService.method.streamWorkerLogs,
      impl: logsOf,
      newDecoder: () => (counts.decoders++, (payload) => fromBinary(StreamWorkerLogsRequestSchema, payload)),
    };
    const impl: Partial<ServiceImpl<typeof HiveService>> = { streamWorkerLogs: logsOf };
    server = await startTestServer({ services: [{ service: HiveService, impl }], fastPaths: [fastPath] });

    const burst = await sendResetBurst(server.url, "grpc");

    // A call on another connection after the burst was processed: the server still answers.
    const out: string[] = [];
    for await (const m of createClient(HiveService, createGrpcTransport({ baseUrl: server.url })).streamWorkerLogs({ workerId: "w-2" })) out.push(m.logPath);
    expect(out).toEqual(["w-2"]);
    expect(counts.decoders).toBe(counts.calls);
    expect(counts.calls).toBeGreaterThanOrEqual(4);
    expect(counts.calls - 4, "reset streams that started a handler").toBeLessThanOrEqual(startsAllowedAtReadEdges(burst));
  });

  // Compressed gRPC, gRPC-Web and Connect go through node's compatibility layer and connect-node:
  // their streams too wait for a turn, and a reset one never reaches the handler.
  for (const protocol of ["grpc-gzip", "grpc-web", "connect"] as const satisfies readonly StreamingProtocol[]) {
    it(`streams through connect-node (${protocol}) reset in the same write start no handler; the others are served`, async () => {
      const counts = { calls: 0 };
      async function* logsOf(request: StreamWorkerLogsRequest): AsyncGenerator<StreamWorkerLogsResponse> {
        counts.calls++;
        yield create(StreamWorkerLogsResponseSchema, { logPath: request.workerId });
      }
      const impl: Partial<ServiceImpl<typeof HiveService>> = { streamWorkerLogs: logsOf };
      server = await startTestServer({ services: [{ service: HiveService, impl }] });
      const burst = await sendResetBurst(server.url, protocol);

      const out: string[] = [];
      for await (const m of createClient(HiveService, createGrpcTransport({ baseUrl: server.url })).streamWorkerLogs({ workerId: "w-2" })) out.push(m.logPath);
      expect(out).toEqual(["w-2"]);
      expect(counts.calls).toBeGreaterThanOrEqual(4);
      expect(counts.calls - 4, "reset streams that started a handler").toBeLessThanOrEqual(startsAllowedAtReadEdges(burst));
    });
  }
});
