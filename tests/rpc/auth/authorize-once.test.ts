import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { HiveService } from "../../../gen/apiary/v1/hive_pb.js";
import { QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import { startQueen, type Queen } from "../../../src/queen/queen.js";
import { callerKey } from "../../../src/rpc/auth/authenticator.js";
import type { Identity } from "../../../src/rpc/auth/identity.js";
import { newToken, tokenFileLine } from "../../../src/rpc/auth/token-store.js";
import type { RpcServer } from "../../../src/rpc/server.js";
import { startTestServer } from "../support/start-test-server.js";

/**
 * Each call is authorised once: the request gate decides from the headers and hands the identity to
 * the call's context; the interceptor authorises only calls the gate did not see. Before, every
 * admitted call was authorised twice (gate, then interceptor): twice the token hashing per call.
 */
function tokenFile(token: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "apiary-auth-once-")), "tokens");
  writeFileSync(file, `${tokenFileLine("dash", "reader", token)}\n`);
  return file;
}

const protocols: [string, (baseUrl: string) => Transport][] = [
  ["gRPC over HTTP/2", (baseUrl) => createGrpcTransport({ baseUrl })],
  ["Connect over HTTP/2", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2" })],
  ["Connect over HTTP/1.1", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" })],
  ["Connect JSON over HTTP/1.1", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false })],
  ["gRPC-Web over HTTP/1.1", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
];

const codeOf = (p: Promise<unknown>) => p.then(() => "ok" as const, (e: unknown) => ConnectError.from(e).code);

describe("each call is authorised once, on every protocol", () => {
  const token = newToken();
  let server: RpcServer;
  const callers: (Identity | undefined)[] = [];
  beforeAll(async () => {
    server = await startTestServer({
      tokenFile: tokenFile(token),
      interceptors: [(next) => (req) => (callers.push(req.contextValues.get(callerKey)), next(req))],
    });
  });
  afterAll(async () => server?.close());

  for (const [name, transport] of protocols) {
    it(`${name}: an admitted call is authorised once and its handler sees the caller; a denied call is denied once`, async () => {
      const authorize = vi.spyOn(server.auth, "authorize");
      try {
        const client = createClient(HiveService, transport(server.url));
        expect(await codeOf(client.listWorkers({}, { headers: { authorization: `Bearer ${token}` } }))).toBe("ok");
        expect(authorize).toHaveBeenCalledTimes(1);
        expect(callers.pop()).toEqual({ kind: "client", name: "dash", role: "reader" });
        authorize.mockClear();
        expect(await codeOf(client.listWorkers({}))).toBe(Code.Unauthenticated);
        expect(await codeOf(client.spawnWorker({ argv: ["/bin/true"] }, { headers: { authorization: `Bearer ${token}` } }))).toBe(Code.PermissionDenied);
        expect(authorize).toHaveBeenCalledTimes(2);
      } finally {
        authorize.mockRestore();
      }
    });
  }
});

describe("a queen's streaming calls (its HTTP/2 fast paths) are authorised once too", () => {
  const token = newToken();
  let queen: Queen;
  beforeAll(async () => {
    queen = await startQueen({ port: 0, security: { tokenFile: tokenFile(token) } });
  });
  afterAll(async () => queen?.close());

  it("Watch over gRPC: one authorisation; without a token UNAUTHENTICATED, once", async () => {
    const authorize = vi.spyOn(queen.server.auth, "authorize");
    try {
      const client = createClient(QueenService, createGrpcTransport({ baseUrl: queen.url }));
      const abort = new AbortController();
      const stream = client.watch({}, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
      const first = await stream[Symbol.asyncIterator]().next();
      expect(first.done).toBe(false);
      abort.abort();
      expect(authorize).toHaveBeenCalledTimes(1);
      const denied = await codeOf((async () => {
        for await (const _ of client.watch({})) break;
      })());
      expect(denied).toBe(Code.Unauthenticated);
      expect(authorize).toHaveBeenCalledTimes(2);
    } finally {
      authorize.mockRestore();
    }
  });
});
