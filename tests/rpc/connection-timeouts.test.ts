// Slow-loris style holds: connections that send nothing, stop halfway through their headers, or
// keep an HTTP/2 session open without streams are closed after the server's configured timeouts.
import * as http2 from "node:http2";
import * as net from "node:net";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { HiveService, ListWorkersRequestSchema } from "../../gen/apiary/v1/hive_pb.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { DUMMY_HIVE_ID } from "./support/dummy-hive.js";
import { startTestServer } from "./support/start-test-server.js";

let server: RpcServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Opens a TCP connection, writes `bytes` (maybe none) and resolves when the server closes it. */
function connectAndWaitForClose(port: number, bytes: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      if (bytes) socket.write(bytes);
    });
    socket.on("error", () => undefined);
    socket.resume();
    socket.once("close", () => resolve());
    socket.once("timeout", () => reject(new Error("not closed")));
  });
}

describe("connection timeouts", () => {
  it("closes a TCP connection that sends nothing", async () => {
    server = await startTestServer({ headersTimeoutMs: 200 });
    await connectAndWaitForClose(server.port, "");
  });

  it("closes an HTTP/1.1 connection that never finishes its headers", async () => {
    server = await startTestServer({ headersTimeoutMs: 200 });
    await connectAndWaitForClose(server.port, "POST /apiary.v1.HiveService/ListWorkers HTTP/1.1\r\nHost: localhost\r\n");
  });

  it("closes an HTTP/2 session that opens no stream", async () => {
    server = await startTestServer({ idleTimeoutMs: 200 });
    const session = http2.connect(server.url);
    session.on("error", () => undefined);
    const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
    await new Promise<void>((resolve) => session.once("connect", () => resolve()));
    await closed;
    expect(session.destroyed).toBe(true);
  });

  it("still serves calls with short timeouts configured", async () => {
    server = await startTestServer({ headersTimeoutMs: 200, idleTimeoutMs: 200 });
    const client = createClient(HiveService, createApiaryTransport(server.url));
    expect((await client.listWorkers(create(ListWorkersRequestSchema))).hive?.hiveId).toBe(DUMMY_HIVE_ID);
  });
});
