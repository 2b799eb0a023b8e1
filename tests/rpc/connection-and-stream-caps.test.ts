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
import { FRAME, PREFACE, frame, grpcCall, hello, rawConnect, rstStream } from "../hostile/support/raw-h2.js";
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

/** The frames a raw HTTP/2 connection receives, as they arrive. */
function frameLog(socket: net.Socket): { frames: { type: number; flags: number; stream: number; code?: number }[]; closed: Promise<void> } {
  const frames: { type: number; flags: number; stream: number; code?: number }[] = [];
  let pending = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
      const length = pending.readUIntBE(0, 3);
      const type = pending[3]!;
      const payload = pending.subarray(9, 9 + length);
      const code = type === FRAME.RST_STREAM ? payload.readUInt32BE(0) : type === GOAWAY ? payload.readUInt32BE(4) : undefined;
      frames.push({ type, flags: pending[4]!, stream: pending.readUInt32BE(5) & 0x7fffffff, code });
      pending = pending.subarray(9 + length);
    }
  });
  socket.on("error", () => undefined);
  return { frames, closed: new Promise((resolve) => socket.once("close", () => resolve())) };
}

const GOAWAY = 7;
const REFUSED_STREAM = 7;
const WATCH = "/grpc.health.v1.Health/Watch";
const CHECK = "/grpc.health.v1.Health/Check";

/** The client preface and SETTINGS, without acknowledging the server's SETTINGS. */
function prefaceWithoutAck(): Buffer {
  return Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]);
}

// Attack: a client that ignores SETTINGS_MAX_CONCURRENT_STREAMS and opens more streams than the
// server advertises, to hold more handlers (and their buffers) than the cap allows.
describe("a client opening more streams than SETTINGS_MAX_CONCURRENT_STREAMS", () => {
  it("before it acknowledged the SETTINGS: each excess stream is reset with REFUSED_STREAM, the others on the connection are served", async () => {
    server = await startTestServer({ limits: { maxStreamsPerConnection: 3, maxStreamsPerPeer: 100 } });
    const authority = new URL(server.url).host;
    const socket = await rawConnect(server.url);
    const log = frameLog(socket);
    try {
      socket.write(prefaceWithoutAck());
      socket.write(Buffer.concat([1, 3, 5].map((id) => grpcCall(id, WATCH, authority))));
      await expect.poll(() => [1, 3, 5].every((id) => log.frames.some((f) => f.type === FRAME.HEADERS && f.stream === id))).toBe(true);
      socket.write(Buffer.concat([7, 9].map((id) => grpcCall(id, WATCH, authority))));
      await expect.poll(() => log.frames.filter((f) => f.type === FRAME.RST_STREAM && f.code === REFUSED_STREAM).map((f) => f.stream)).toEqual([7, 9]);
      // A slot freed by the client is taken by a new call, answered on the same connection.
      socket.write(Buffer.concat([rstStream(1), grpcCall(11, CHECK, authority)]));
      await expect.poll(() => log.frames.some((f) => f.type === FRAME.HEADERS && f.stream === 11)).toBe(true);
      expect(log.frames.filter((f) => f.type === GOAWAY || (f.type === FRAME.RST_STREAM && (f.stream === 3 || f.stream === 5)))).toEqual([]);
    } finally {
      socket.destroy();
    }
  });

  it("after it acknowledged them: that connection is ended (GOAWAY), the server keeps serving the other connections", async () => {
    server = await startTestServer({ limits: { maxStreamsPerConnection: 3, maxStreamsPerPeer: 100 } });
    const authority = new URL(server.url).host;
    const health = createClient(Health, createApiaryTransport(server.url));
    const abort = new AbortController();
    const bystander = health.watch(create(HealthCheckRequestSchema), { signal: abort.signal })[Symbol.asyncIterator]();
    await bystander.next();
    const socket = await rawConnect(server.url);
    const log = frameLog(socket);
    try {
      socket.write(hello());
      socket.write(Buffer.concat([1, 3, 5].map((id) => grpcCall(id, WATCH, authority))));
      await expect.poll(() => [1, 3, 5].every((id) => log.frames.some((f) => f.type === FRAME.HEADERS && f.stream === id))).toBe(true);
      socket.write(grpcCall(7, WATCH, authority));
      await log.closed;
      expect(log.frames.some((f) => f.type === GOAWAY)).toBe(true);
      expect(log.frames.some((f) => f.type === FRAME.HEADERS && f.stream === 7)).toBe(false);
      expect(await health.check(create(HealthCheckRequestSchema)).then(() => "served")).toBe("served");
      // The bystander's stream on its own connection is still open: the server ends it only now.
      const ended = bystander.next().then(() => "message", (e: unknown) => ConnectError.from(e).code);
      abort.abort();
      expect(await ended).toBe(Code.Canceled);
    } finally {
      abort.abort();
      socket.destroy();
    }
  });
});
