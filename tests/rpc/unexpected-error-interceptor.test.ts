import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { HiveService, WatchTelemetryResponseSchema } from "../../gen/apiary/v1/hive_pb.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { MAX_STATUS_MESSAGE, unexpectedErrorInterceptor } from "../../src/rpc/unexpected-error-interceptor.js";
import { captureLogs } from "../hive/hive-test-helpers.js";
import { startTestServer } from "./support/start-test-server.js";

let server: RpcServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

class Defect extends Error {}

describe("unexpectedErrorInterceptor", () => {
  it("logs a handler's unexpected error once with its stack and answers INTERNAL; expected statuses pass untouched and unlogged", async () => {
    const logs = captureLogs("debug");
    server = await startTestServer({
      logger: logs.logger,
      interceptors: [unexpectedErrorInterceptor(logs.logger)],
      services: [
        {
          service: HiveService,
          impl: {
            listWorkers: () => {
              throw new Defect("list exploded");
            },
            stopWorker: () => {
              throw new ConnectError("worker_id: no worker named x", Code.NotFound);
            },
            async *watchTelemetry() {
              yield create(WatchTelemetryResponseSchema, { report: { seq: 1n } });
              throw new Defect("stream exploded");
            },
          },
        },
      ],
    });
    const client = createClient(HiveService, createApiaryTransport(server.url));

    const unary = await client.listWorkers({}).then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(unary && Code[unary.code]).toBe(Code[Code.Internal]);
    expect(unary?.rawMessage).toBe("internal error");

    const seqs: bigint[] = [];
    const streamed = await (async () => {
      for await (const m of client.watchTelemetry({})) seqs.push(m.report!.seq);
    })().then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(seqs).toEqual([1n]);
    expect(streamed && Code[streamed.code]).toBe(Code[Code.Internal]);

    const expected = await client.stopWorker({ workerId: "x" }).then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(expected && Code[expected.code]).toBe(Code[Code.NotFound]);
    expect(expected?.rawMessage).toBe("worker_id: no worker named x");

    const logged = logs.lines.filter((l) => l.msg === "unexpected error in an RPC handler");
    expect(logged.map((l) => l.method)).toEqual(["apiary.v1.HiveService/ListWorkers", "apiary.v1.HiveService/WatchTelemetry"]);
    const errs = logged.map((l) => l.err as { message: string; stack: string });
    expect(errs.map((e) => e.message)).toEqual(["list exploded", "stream exploded"]);
    for (const e of errs) expect(e.stack).toMatch(/unexpected-error-interceptor\.test\.ts/);
  });
});

describe("status messages quoting a huge field", () => {
  it("are cut to MAX_STATUS_MESSAGE characters over gRPC, so the client gets the code instead of a reset stream", async () => {
    const logs = captureLogs("debug");
    const huge = "x".repeat(64 * 1024);
    server = await startTestServer({
      logger: logs.logger,
      interceptors: [unexpectedErrorInterceptor(logs.logger)],
      services: [{ service: HiveService, impl: { stopWorker: () => { throw new ConnectError(`worker_id: no worker named ${JSON.stringify(huge)}`, Code.NotFound); } } }],
    });
    const client = createClient(HiveService, createApiaryTransport(server.url, { protocol: "grpc" }));
    const err = await client.stopWorker({ workerId: "w" }).then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.NotFound);
    expect(err!.rawMessage.length).toBeLessThanOrEqual(MAX_STATUS_MESSAGE + 10);
    expect(err!.rawMessage.startsWith("worker_id: no worker named")).toBe(true);
  });
});
