import { mkdtempSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { newToken, tokenFileLine } from "../../src/rpc/auth/token-store.js";
import { createHttpRoutes, textReply } from "../../src/rpc/http-routes.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { grpcJsClient, unary } from "../rpc/support/grpc-js.js";
import { startTestServer } from "../rpc/support/start-test-server.js";

let server: RpcServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(authorize?: Parameters<typeof createHttpRoutes>[0]["authorize"], tokenFile?: string) {
  server = await startTestServer({
    tokenFile,
    httpRoutes: createHttpRoutes({
      routes: {
        "/hello": () => textReply(200, "hello"),
        "/whoami": (_req, caller) => textReply(200, JSON.stringify(caller.identity ?? null)),
        "/boom": () => {
          throw new Error("broken on purpose");
        },
      },
      authorize,
    }),
  });
  return server;
}

function h2Get(url: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on("error", reject);
    const req = session.request({ ":method": "GET", ":path": path });
    let body = "";
    let status = 0;
    req.on("response", (headers) => (status = Number(headers[":status"])));
    req.setEncoding("utf8").on("data", (d: string) => (body += d));
    req.on("end", () => {
      session.close();
      resolve({ status, body });
    });
    req.on("error", reject);
  });
}

describe("HTTP routes on the RPC listener", () => {
  it("answers GET and HEAD over HTTP/1.1 and HTTP/2 while gRPC keeps working on the same port", async () => {
    const s = await serve();
    const res = await fetch(`${s.url}/hello?x=1`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("hello\n");
    const head = await fetch(`${s.url}/hello`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("6");
    expect(await head.text()).toBe("");
    expect(await h2Get(s.url, "/hello")).toEqual({ status: 200, body: "hello\n" });

    const client = grpcJsClient(s.url);
    try {
      const health = await unary(client, "/grpc.health.v1.Health/Check", HealthCheckRequestSchema, HealthCheckResponseSchema, create(HealthCheckRequestSchema, {}));
      expect(health.status).toBe(ServingStatus.SERVING);
    } finally {
      client.close();
    }
  });

  it("leaves other paths and methods to the RPC handler", async () => {
    const s = await serve();
    expect((await fetch(`${s.url}/nothing-here`)).status).toBe(404);
    const post = await fetch(`${s.url}/hello`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    expect(post.status).toBe(404);
  });

  it("answers 500 naming the route when a handler throws, and the server stays up", async () => {
    const s = await serve();
    const res = await fetch(`${s.url}/boom`);
    expect(res.status).toBe(500);
    expect(await res.text()).toContain("/boom: broken on purpose");
    expect((await fetch(`${s.url}/hello`)).status).toBe(200);
  });

  it("with authentication on, needs a reader or admin token, as read RPCs do", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "apiary-routes-"));
    const reader = newToken();
    const admin = newToken();
    const tokenFile = path.join(dir, "tokens");
    writeFileSync(tokenFile, `${tokenFileLine("dash", "reader", reader)}\n${tokenFileLine("ops", "admin", admin)}\n`);
    const s = await serve(undefined, tokenFile);
    const anonymous = await fetch(`${s.url}/hello`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).toMatch(/no credentials/);
    expect((await fetch(`${s.url}/hello`, { headers: { authorization: "Bearer not-a-token" } })).status).toBe(401);
    const asReader = await fetch(`${s.url}/whoami`, { headers: { authorization: `Bearer ${reader}` } });
    expect(asReader.status).toBe(200);
    expect(JSON.parse(await asReader.text())).toMatchObject({ role: "reader" });
    const asAdmin = await fetch(`${s.url}/whoami`, { headers: { authorization: `Bearer ${admin}` } });
    expect(JSON.parse(await asAdmin.text())).toMatchObject({ role: "admin" });
  });

  it("consults a custom authorizer before every route", async () => {
    const s = await serve((req) => (req.headers.authorization === "Bearer reader" ? { identity: undefined } : textReply(401, "a reader token is required")));
    const refused = await fetch(`${s.url}/hello`);
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain("reader token");
    const allowed = await fetch(`${s.url}/hello`, { headers: { authorization: "Bearer reader" } });
    expect(allowed.status).toBe(200);
  });
});
