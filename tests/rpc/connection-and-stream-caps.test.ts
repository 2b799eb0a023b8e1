// Attack: a peer opened connections, streams and long-lived watches without bound (1000 streams
// per connection, unlimited connections, no per-peer cap on Health.Watch), growing server memory.
import * as http2 from "node:http2";
import * as net from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { Health, HealthCheckRequestSchema } from "../../gen/grpc/health/v1/health_pb.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { startTestServer } from "./support/start-test-server.js";
import { QueenService, WatchRequestSchema } from "../../gen/apiary/v1/queen_pb.js";
import { createLogger } from "../../src/common/logger.js";
import { startQueen } from "../../src/queen/queen.js";

let server: RpcServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function closedByServer(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => undefined);
    socket.once("close", () => resolve(true));
    socket.once("connect", () => setImmediate(() => socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")));
  });
}

describe("connection and stream caps", () => {
  it("refuses a Health.Watch stream over the per-peer cap with RESOURCE_EXHAUSTED naming it, and admits one again after another ends", async () => {
    server = await startTestServer({ limits: { maxStreamsPerPeer: 2 } });
    const health = createClient(Health, createApiaryTransport(server.url));
    const aborts = [new AbortController(), new AbortController()];
    const open = aborts.map(async (abort) => {
      const it = health.watch(create(HealthCheckRequestSchema), { signal: abort.signal })[Symbol.asyncIterator]();
      await it.next();
      return it;
    });
    await Promise.all(open);
    const third = health.watch(create(HealthCheckRequestSchema))[Symbol.asyncIterator]().next();
    const err = await third.then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.ResourceExhausted);
    expect(err?.rawMessage).toMatch(/grpc\.health\.v1\.Health\/Watch streams from 127\.0\.0\.1: the cap is 2 per peer address/);
    aborts[0].abort();
    await expect.poll(async () => {
      const abort = new AbortController();
      try {
        await health.watch(create(HealthCheckRequestSchema), { signal: abort.signal })[Symbol.asyncIterator]().next();
        return "admitted";
      } catch (e) {
        return ConnectError.from(e).code === Code.ResourceExhausted ? "capped" : "other";
      } finally {
        abort.abort();
      }
    }).toBe("admitted");
    aborts[1].abort();
  });

  it("closes a connection over the per-peer connection cap at once, and serves the ones under it", async () => {
    server = await startTestServer({ limits: { maxConnectionsPerPeer: 2 } });
    const held = [http2.connect(server.url), http2.connect(server.url)];
    for (const s of held) s.on("error", () => undefined);
    await Promise.all(held.map((s) => new Promise<void>((resolve) => s.once("remoteSettings", () => resolve()))));
    expect(await closedByServer(server.port)).toBe(true);
    const health = createClient(Health, createApiaryTransport(server.url));
    for (const s of held) s.destroy();
    await expect.poll(() => health.check(create(HealthCheckRequestSchema)).then(() => "served", () => "refused")).toBe("served");
  });

  it("advertises the streams-per-connection cap in its HTTP/2 SETTINGS (was 1000, fixed)", async () => {
    server = await startTestServer({ limits: { maxStreamsPerConnection: 7 } });
    const session = http2.connect(server.url);
    session.on("error", () => undefined);
    const settings = await new Promise<http2.Settings>((resolve) => session.once("remoteSettings", resolve));
    session.destroy();
    expect(settings.maxConcurrentStreams).toBe(7);
  });

  it("caps a queen's Watch streams per peer address (raw gRPC path and Connect alike)", async () => {
    const queen = await startQueen({ host: "127.0.0.1", port: 0, logger: createLogger("caps-test", { level: "silent" }), security: { limits: { maxStreamsPerPeer: 1 } } });
    try {
      for (const protocol of ["grpc", "connect"] as const) {
        const client = createClient(QueenService, createApiaryTransport(queen.url, { protocol }));
        const abort = new AbortController();
        const first = client.watch(create(WatchRequestSchema), { signal: abort.signal })[Symbol.asyncIterator]();
        await first.next();
        const err = await client.watch(create(WatchRequestSchema))[Symbol.asyncIterator]().next().then(() => undefined, (e: unknown) => ConnectError.from(e));
        expect(err?.code).toBe(Code.ResourceExhausted);
        expect(err?.rawMessage).toContain("apiary.v1.QueenService/Watch streams from 127.0.0.1: the cap is 1");
        abort.abort();
        await expect.poll(async () => {
          const again = new AbortController();
          try {
            await client.watch(create(WatchRequestSchema), { signal: again.signal })[Symbol.asyncIterator]().next();
            return "admitted";
          } catch (e) {
            return ConnectError.from(e).code === Code.ResourceExhausted ? "capped" : "other";
          } finally {
            again.abort();
          }
        }).toBe("admitted");
      }
    } finally {
      await queen.close();
    }
  });
});
