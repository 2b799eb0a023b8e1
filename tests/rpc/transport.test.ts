import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { createClient, type ServiceImpl } from "@connectrpc/connect";
import { HiveService, ListWorkersRequestSchema } from "../../gen/apiary/v1/hive_pb.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { normalizeAddress } from "../../src/common/queen-addresses.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { DUMMY_HIVE_ID, dummyListWorkers } from "./support/dummy-hive.js";
import { startTestServer } from "./support/start-test-server.js";

describe("normalizeAddress", () => {
  it.each([
    ["127.0.0.1:7833", "http://127.0.0.1:7833"],
    ["localhost:7835", "http://localhost:7835"],
    ["http://queen.local:7833/", "http://queen.local:7833"],
    ["https://queen.example:443", "https://queen.example:443"],
    ["[::1]:7833", "http://[::1]:7833"],
  ])("%s → %s", (address, url) => {
    expect(normalizeAddress(address)).toBe(url);
  });

  it.each(["", "ftp://host:21", "http://"])("rejects %j", (address) => {
    expect(() => normalizeAddress(address)).toThrow("invalid address");
  });
});

describe("createApiaryTransport", () => {
  let server: RpcServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it.each(["grpc", "connect"] as const)("calls the server over HTTP/2 with %s", async (protocol) => {
    const client = createClient(HiveService, createApiaryTransport(server.url, { protocol }));
    const answer = await client.listWorkers(create(ListWorkersRequestSchema));
    expect(answer.hive?.hiveId).toBe(DUMMY_HIVE_ID);
  });
});

describe("createApiaryTransport compression", () => {
  let server: RpcServer;
  const acceptEncodings: (string | null)[] = [];
  const recordingHive: Partial<ServiceImpl<typeof HiveService>> = {
    listWorkers(_req, ctx) {
      acceptEncodings.push(ctx.requestHeader.get("grpc-accept-encoding"));
      return dummyListWorkers;
    },
  };
  beforeAll(async () => {
    server = await startTestServer({
      services: [{ service: HiveService, impl: recordingHive }],
    });
  });
  afterAll(() => server.close());

  it("does not ask for gzipped responses unless told to", async () => {
    await createClient(HiveService, createApiaryTransport(server.url)).listWorkers({});
    await createClient(HiveService, createApiaryTransport(server.url, { acceptGzip: true })).listWorkers({});
    expect(acceptEncodings[0] ?? "").not.toMatch(/gzip/);
    expect(acceptEncodings[1]).toMatch(/gzip/);
  });
});
