import { afterEach, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { status as GrpcStatus } from "@grpc/grpc-js";
import {
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthListRequestSchema,
  HealthListResponseSchema,
} from "../../gen/grpc/health/v1/health_pb.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { collect, grpcJsClient, serverStream, unary } from "./support/grpc-js.js";
import { startTestServer } from "./support/start-test-server.js";
import { waitUntil } from "../helpers/wait.js";

const HIVE = "apiary.v1.HiveService";
let server: RpcServer | undefined;
let client: ReturnType<typeof grpcJsClient> | undefined;

afterEach(async () => {
  client?.close();
  await server?.close();
  server = client = undefined;
});

async function setup() {
  server = await startTestServer();
  client = grpcJsClient(server.url);
  return { server, client };
}

function check(c: ReturnType<typeof grpcJsClient>, service: string) {
  return unary(c, "/grpc.health.v1.Health/Check", HealthCheckRequestSchema, HealthCheckResponseSchema, create(HealthCheckRequestSchema, { service }));
}

function watch(c: ReturnType<typeof grpcJsClient>, service: string) {
  return collect(
    serverStream(c, "/grpc.health.v1.Health/Watch", HealthCheckRequestSchema, HealthCheckResponseSchema, create(HealthCheckRequestSchema, { service })),
  );
}

describe("grpc.health.v1.Health", () => {
  it("Check answers SERVING overall and per registered service", async () => {
    const { client } = await setup();
    expect((await check(client, "")).status).toBe(ServingStatus.SERVING);
    expect((await check(client, HIVE)).status).toBe(ServingStatus.SERVING);
  });

  it("Check answers NOT_FOUND for an unknown service", async () => {
    const { client } = await setup();
    const err = (await check(client, "no.such.Service").catch((e: unknown) => e)) as { code: number };
    expect(err.code).toBe(GrpcStatus.NOT_FOUND);
  });

  it("Check follows setStatus", async () => {
    const { server, client } = await setup();
    server.health.setStatus(HIVE, ServingStatus.NOT_SERVING);
    expect((await check(client, HIVE)).status).toBe(ServingStatus.NOT_SERVING);
    expect((await check(client, "")).status).toBe(ServingStatus.SERVING);
  });

  it("List returns every status", async () => {
    const { client } = await setup();
    const list = await unary(client, "/grpc.health.v1.Health/List", HealthListRequestSchema, HealthListResponseSchema, create(HealthListRequestSchema));
    expect(Object.keys(list.statuses).sort()).toEqual(["", HIVE]);
    expect(list.statuses[HIVE].status).toBe(ServingStatus.SERVING);
  });

  it("Watch sends the current status, then each change", async () => {
    const { server, client } = await setup();
    const { messages } = watch(client, HIVE);
    await waitUntil(() => messages.length === 1, "the first status");
    server.health.setStatus(HIVE, ServingStatus.NOT_SERVING);
    await waitUntil(() => messages.length === 2, "the change");
    server.health.setStatus(HIVE, ServingStatus.SERVING);
    await waitUntil(() => messages.length === 3, "the second change");
    expect(messages.map((m) => m.status)).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
  });

  it("Watch of an unknown service says SERVICE_UNKNOWN and keeps streaming", async () => {
    const { server, client } = await setup();
    const { messages } = watch(client, "later.Service");
    await waitUntil(() => messages.length === 1, "the first status");
    expect(messages[0].status).toBe(ServingStatus.SERVICE_UNKNOWN);
    server.health.setStatus("later.Service", ServingStatus.SERVING);
    await waitUntil(() => messages.length === 2, "the service to appear");
    expect(messages[1].status).toBe(ServingStatus.SERVING);
  });

  it("Watch sees NOT_SERVING when close() starts, then ends with UNAVAILABLE", async () => {
    const { server, client } = await setup();
    const { messages, ended } = watch(client, "");
    await waitUntil(() => messages.length === 1, "the first status");
    const closing = server.close();
    const err = await ended;
    expect(messages.map((m) => m.status)).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    expect(err?.code).toBe(GrpcStatus.UNAVAILABLE);
    await closing;
  });

  it("a cancelled Watch does not hold up close()", async () => {
    const { server, client } = await setup();
    const stream = serverStream(client, "/grpc.health.v1.Health/Watch", HealthCheckRequestSchema, HealthCheckResponseSchema, create(HealthCheckRequestSchema));
    const { messages, ended } = collect(stream);
    await waitUntil(() => messages.length === 1, "the first status");
    stream.cancel();
    expect((await ended)?.code).toBe(GrpcStatus.CANCELLED);
    await server.close();
  });
});
