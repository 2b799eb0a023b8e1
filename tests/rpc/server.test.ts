import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { status as GrpcStatus } from "@grpc/grpc-js";
import {
  HiveService,
  ListWorkersRequestSchema,
  ListWorkersResponseSchema,
  SpawnWorkerRequestSchema,
  SpawnWorkerResponseSchema,
  WatchTelemetryRequestSchema,
  WatchTelemetryResponseSchema,
} from "../../gen/apiary/v1/hive_pb.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { abortOnShutdown } from "../../src/rpc/server.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { DUMMY_HIVE_ID, dummyListWorkers } from "./support/dummy-hive.js";
import { collect, grpcJsClient, serverStream, unary } from "./support/grpc-js.js";
import { startTestServer } from "./support/start-test-server.js";
import { waitUntil } from "../helpers/wait.js";

const LIST_WORKERS = "/apiary.v1.HiveService/ListWorkers";

let server: RpcServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(false)));
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
  });
}

describe("startRpcServer", () => {
  it("binds port 0 to a real port and reports it in url", async () => {
    server = await startTestServer();
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it("answers a Connect-node gRPC client over h2c", async () => {
    server = await startTestServer();
    const client = createClient(HiveService, createApiaryTransport(server.url));
    const answer = await client.listWorkers(create(ListWorkersRequestSchema));
    expect(answer.hive?.hiveId).toBe(DUMMY_HIVE_ID);
    expect(answer.workers[0].memoryRssBytes).toBe(8n * 1024n ** 3n);
  });

  it("answers a @grpc/grpc-js client", async () => {
    server = await startTestServer();
    const client = grpcJsClient(server.url);
    try {
      const answer = await unary(
        client,
        LIST_WORKERS,
        ListWorkersRequestSchema,
        ListWorkersResponseSchema,
        create(ListWorkersRequestSchema),
      );
      expect(answer.workers.map((w) => w.workerId)).toEqual(["w1"]);
    } finally {
      client.close();
    }
  });

  it("answers an HTTP/1.1 Connect JSON POST on the same port", async () => {
    server = await startTestServer();
    const response = await fetch(`${server.url}${LIST_WORKERS}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { hive: { hiveId: string }; workers: { pid: number }[] };
    expect(body.hive.hiveId).toBe(DUMMY_HIVE_ID);
    expect(body.workers[0].pid).toBe(dummyListWorkers.workers[0].pid);
  });

  it("answers UNIMPLEMENTED for a method the service does not implement", async () => {
    server = await startTestServer();
    const client = createClient(HiveService, createApiaryTransport(server.url));
    const err = await client.spawnWorker(create(SpawnWorkerRequestSchema)).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.Unimplemented);
  });

  it("rejects an oversized request with RESOURCE_EXHAUSTED and keeps serving", async () => {
    // grpc-js keeps the rejected stream open until it closes the connection: a short grace.
    server = await startTestServer({ readMaxBytes: 64 * 1024, shutdownGraceMs: 300 });
    const client = grpcJsClient(server.url);
    try {
      const huge = create(SpawnWorkerRequestSchema, { argv: ["x".repeat(200 * 1024)] });
      const err = (await unary(client, "/apiary.v1.HiveService/SpawnWorker", SpawnWorkerRequestSchema, SpawnWorkerResponseSchema, huge).catch(
        (e: unknown) => e,
      )) as { code: number };
      expect(err.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
      const answer = await unary(client, LIST_WORKERS, ListWorkersRequestSchema, ListWorkersResponseSchema, create(ListWorkersRequestSchema));
      expect(answer.hive?.hiveId).toBe(DUMMY_HIVE_ID);
    } finally {
      client.close();
    }
  });

  it("drops a connection that speaks neither HTTP/1.1 nor HTTP/2 and keeps serving", async () => {
    server = await startTestServer();
    const socket = net.connect(server.port, "127.0.0.1");
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.on("error", () => {});
    socket.end(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00]));
    await closed;
    const client = createClient(HiveService, createApiaryTransport(server.url));
    expect((await client.listWorkers(create(ListWorkersRequestSchema))).hive?.hiveId).toBe(DUMMY_HIVE_ID);
  });
});

describe("RpcServer.close", () => {
  it("ends an open stream with UNAVAILABLE, resolves, and refuses new connections", async () => {
    const s = await startTestServer();
    const client = grpcJsClient(s.url);
    try {
      const stream = serverStream(
        client,
        "/apiary.v1.HiveService/WatchTelemetry",
        WatchTelemetryRequestSchema,
        WatchTelemetryResponseSchema,
        create(WatchTelemetryRequestSchema),
      );
      const { messages, ended } = collect(stream);
      await waitUntil(() => messages.length >= 2, "two telemetry reports");
      const closing = s.close();
      expect(s.shutdownSignal.aborted).toBe(true);
      const err = await ended;
      expect(err?.code).toBe(GrpcStatus.UNAVAILABLE);
      await closing;
      expect(await connectionRefused(s.port)).toBe(true);
    } finally {
      client.close();
    }
  });

  it("is idempotent and sets every health status to NOT_SERVING", async () => {
    const s = await startTestServer();
    const first = s.close();
    expect(s.close()).toBe(first);
    await first;
    expect(s.health.entries().every(([, status]) => status === 2)).toBe(true);
  });

  it("cuts a call that outlives the grace period", async () => {
    // A handler that ignores the shutdown signal: only the grace period can end it.
    let reached = false;
    const s = await startTestServer({
      shutdownGraceMs: 200,
      services: [
        {
          service: HiveService,
          impl: {
            listWorkers: () => {
              reached = true;
              return new Promise<never>(() => {});
            },
          },
        },
      ],
    });
    const client = createClient(HiveService, createApiaryTransport(s.url));
    const call = client.listWorkers(create(ListWorkersRequestSchema)).catch((e: unknown) => ConnectError.from(e));
    await waitUntil(() => reached, "the handler to start");
    await s.close();
    expect(await call).toBeInstanceOf(ConnectError);
  });

  it("abortOnShutdown fires with the server's shutdown", async () => {
    const s = await startTestServer();
    const call = new AbortController();
    const signal = abortOnShutdown(call.signal, s);
    expect(signal.aborted).toBe(false);
    await s.close();
    expect(signal.aborted).toBe(true);
    expect(ConnectError.from(signal.reason).code).toBe(Code.Unavailable);
  });
});
