import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient, type ServiceImpl, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import {
  HiveService,
  StreamWorkerLogsRequestSchema,
  StreamWorkerLogsResponseSchema,
  type StreamWorkerLogsRequest,
  type StreamWorkerLogsResponse,
  WatchTelemetryRequestSchema,
  WatchTelemetryResponseSchema,
} from "../../gen/apiary/v1/hive_pb.js";
import type { FastPath, RawFastPaths } from "../../src/rpc/fast-path.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { startTestServer } from "./support/start-test-server.js";

// One fast-path registration serves a method on every protocol that carries protobuf binary:
// its decoder reads the requests of plain gRPC (raw HTTP/2 streams), gRPC-Web and Connect with
// proto (connect-node's binary path); its encoder writes the responses of the raw path only; JSON
// requests reach the ordinary service. rawFastPaths turns the raw path off, method by method.

async function* logsOf(request: StreamWorkerLogsRequest): AsyncGenerator<StreamWorkerLogsResponse> {
  yield create(StreamWorkerLogsResponseSchema, { logPath: request.workerId, offset: request.tailLines === undefined ? 0n : BigInt(request.tailLines) });
}

const logsService: Partial<ServiceImpl<typeof HiveService>> = {
  streamWorkerLogs: logsOf,
  async *watchTelemetry() {
    yield create(WatchTelemetryResponseSchema);
  },
};

let server: RpcServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(rawFastPaths?: RawFastPaths) {
  const counts = { streams: 0, decoded: 0, encoded: 0 };
  const fastPath: FastPath<typeof StreamWorkerLogsRequestSchema, typeof StreamWorkerLogsResponseSchema> = {
    method: HiveService.method.streamWorkerLogs,
    impl: logsOf,
    newDecoder: () => {
      counts.streams++;
      return (payload) => (counts.decoded++, fromBinary(StreamWorkerLogsRequestSchema, payload));
    },
    encode: (message) => (counts.encoded++, toBinary(StreamWorkerLogsResponseSchema, message)),
  };
  server = await startTestServer({ services: [{ service: HiveService, impl: logsService }], fastPaths: [fastPath], rawFastPaths });
  return counts;
}

async function call(transport: Transport): Promise<StreamWorkerLogsResponse[]> {
  const out: StreamWorkerLogsResponse[] = [];
  for await (const m of createClient(HiveService, transport).streamWorkerLogs({ workerId: "w-7", tailLines: 3 })) out.push(m);
  return out;
}

const grpc = () => createGrpcTransport({ baseUrl: server!.url });
const connectProto = () => createConnectTransport({ baseUrl: server!.url, httpVersion: "2", useBinaryFormat: true });
const grpcWebProto = () => createGrpcWebTransport({ baseUrl: server!.url, httpVersion: "1.1", useBinaryFormat: true });
const connectJson = () => createConnectTransport({ baseUrl: server!.url, httpVersion: "2", useBinaryFormat: false });

describe("one fast-path registration per method", () => {
  it("plain gRPC goes to the raw path: the registration's decoder and encoder", async () => {
    const counts = await serve();
    expect((await call(grpc())).map((m) => [m.logPath, m.offset])).toEqual([["w-7", 3n]]);
    expect(counts).toEqual({ streams: 1, decoded: 1, encoded: 1 });
  });

  it("Connect and gRPC-Web with proto go through connect-node with the registration's decoder", async () => {
    const counts = await serve();
    expect((await call(connectProto())).map((m) => m.logPath)).toEqual(["w-7"]);
    expect((await call(grpcWebProto())).map((m) => m.logPath)).toEqual(["w-7"]);
    expect(counts).toEqual({ streams: 2, decoded: 2, encoded: 0 });
  });

  it("JSON reaches the ordinary service, no decoder", async () => {
    const counts = await serve();
    expect((await call(connectJson())).map((m) => [m.logPath, m.offset])).toEqual([["w-7", 3n]]);
    expect(counts).toEqual({ streams: 0, decoded: 0, encoded: 0 });
  });

  for (const off of [false, ["SomeOtherMethod"]] as const) {
    it(`rawFastPaths: ${JSON.stringify(off)} sends plain gRPC through connect-node, still with the decoder`, async () => {
      const counts = await serve(off);
      expect((await call(grpc())).map((m) => m.logPath)).toEqual(["w-7"]);
      expect(counts).toEqual({ streams: 1, decoded: 1, encoded: 0 });
    });
  }

  it("a request of several fields on connect-node's binary path reaches the decoder byte for byte", async () => {
    const seen: Uint8Array[] = [];
    server = await startTestServer({
      services: [{ service: HiveService, impl: logsService }],
      fastPaths: [{ method: HiveService.method.streamWorkerLogs, impl: logsOf, newDecoder: () => (p) => (seen.push(p.slice()), fromBinary(StreamWorkerLogsRequestSchema, p)) }],
    });
    await call(connectProto());
    expect(seen).toEqual([toBinary(StreamWorkerLogsRequestSchema, create(StreamWorkerLogsRequestSchema, { workerId: "w-7", tailLines: 3 }))]);
  });

  it("with two fast paths on the binary path, each decoder reads only its own method's requests", async () => {
    const decodedBy: string[] = [];
    server = await startTestServer({
      services: [{ service: HiveService, impl: logsService }],
      fastPaths: [
        { method: HiveService.method.streamWorkerLogs, impl: logsOf, newDecoder: () => (p) => (decodedBy.push("logs"), fromBinary(StreamWorkerLogsRequestSchema, p)) },
        {
          method: HiveService.method.watchTelemetry,
          impl: async function* () {
            yield create(WatchTelemetryResponseSchema);
          },
          newDecoder: () => (p) => (decodedBy.push("telemetry"), fromBinary(WatchTelemetryRequestSchema, p)),
        },
      ],
    });
    expect((await call(connectProto())).map((m) => m.logPath)).toEqual(["w-7"]);
    for await (const _ of createClient(HiveService, connectProto()).watchTelemetry({}));
    expect(decodedBy).toEqual(["logs", "telemetry"]);
  });
});
