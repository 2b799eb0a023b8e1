import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type ServiceImpl, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HiveService, StreamWorkerLogsRequestSchema, StreamWorkerLogsResponseSchema, type StreamWorkerLogsRequest } from "../../../gen/apiary/v1/hive_pb.js";
import type { GatedCall } from "../../../src/rpc/admission/header-check.js";
import type { FastPath } from "../../../src/rpc/fast-path.js";
import type { RpcServer } from "../../../src/rpc/server.js";
import { startTestServer } from "../support/start-test-server.js";

// The server owner's header check (RpcServerOptions.headerCheck) runs in the request gate on every
// protocol and path, raw HTTP/2 fast paths included: a refused call never gets a decoder or a handler.
describe("the owner's header check in the request gate", () => {
  let server: RpcServer;
  const seen: GatedCall[] = [];
  const counts = { decoders: 0, handlers: 0 };
  async function* logsOf(request: StreamWorkerLogsRequest) {
    counts.handlers++;
    yield create(StreamWorkerLogsResponseSchema, { logPath: request.workerId });
  }
  beforeAll(async () => {
    const fastPath: FastPath<typeof StreamWorkerLogsRequestSchema, typeof StreamWorkerLogsResponseSchema> = {
      method: HiveService.method.streamWorkerLogs,
      impl: logsOf,
      newDecoder: () => (counts.decoders++, (payload) => fromBinary(StreamWorkerLogsRequestSchema, payload)),
      encode: (message) => toBinary(StreamWorkerLogsResponseSchema, message),
    };
    const impl: Partial<ServiceImpl<typeof HiveService>> = { streamWorkerLogs: logsOf };
    server = await startTestServer({
      services: [{ service: HiveService, impl }],
      fastPaths: [fastPath],
      headerCheck: (call) => {
        seen.push(call);
        return call.headers["x-pass"] === "yes" ? undefined : { code: Code.Unauthenticated, message: "x-pass: yes is missing" };
      },
    });
  });
  afterAll(async () => server?.close());

  const transports: [string, () => Transport][] = [
    ["gRPC (raw HTTP/2 fast path)", () => createGrpcTransport({ baseUrl: server.url })],
    ["gRPC-Web over HTTP/1.1", () => createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" })],
    ["Connect proto over HTTP/2", () => createConnectTransport({ baseUrl: server.url, httpVersion: "2", useBinaryFormat: true })],
    ["Connect JSON over HTTP/1.1", () => createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", useBinaryFormat: false })],
  ];
  const call = async (transport: Transport, headers: Record<string, string>) => {
    const out: string[] = [];
    for await (const m of createClient(HiveService, transport).streamWorkerLogs({ workerId: "w-1" }, { headers })) out.push(m.logPath);
    return out;
  };

  for (const [name, transport] of transports) {
    it(`${name}: refused with the check's code and message before any decoder or handler; let through when it passes`, async () => {
      const before = { ...counts };
      const err = await call(transport(), {}).catch((e: unknown) => ConnectError.from(e));
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.Unauthenticated);
      expect((err as ConnectError).rawMessage).toBe("x-pass: yes is missing");
      expect(counts).toEqual(before);
      expect(await call(transport(), { "x-pass": "yes" })).toEqual(["w-1"]);
      expect(counts.handlers).toBe(before.handlers + 1);
      expect(seen.at(-1)).toMatchObject({ service: HiveService.typeName, method: "StreamWorkerLogs", peer: { address: "127.0.0.1" } });
    });
  }
});
