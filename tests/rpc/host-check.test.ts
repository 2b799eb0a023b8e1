import os from "node:os";
// DNS rebinding: a web page at evil.example whose name is re-pointed at 127.0.0.1 makes the
// operator's browser send requests to a plaintext, unauthenticated server on loopback, with
// `Host: evil.example`. Such a server answers only loopback names, IP literals and --allow-host names.
import * as http from "node:http";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { ListWorkersRequestSchema, ListWorkersResponseSchema } from "../../gen/apiary/v1/hive_pb.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { hostAllowed, hostOf } from "../../src/rpc/host-check.js";
import { DUMMY_HIVE_ID } from "./support/dummy-hive.js";
import { unary } from "./support/grpc-js.js";
import { startTestServer } from "./support/start-test-server.js";

const LIST_WORKERS = "/apiary.v1.HiveService/ListWorkers";

let server: RpcServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A Connect JSON POST over HTTP/1.1 with the given Host header, as a rebound browser page sends it. */
function connectPost(port: number, host: string, path = LIST_WORKERS): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: "POST", path, headers: { host, "content-type": "application/json" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end("{}");
  });
}

function getPath(port: number, host: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path, headers: { host } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    }).on("error", reject);
  });
}

async function grpcListWorkers(port: number, authority: string) {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.default_authority": authority });
  try {
    return await unary(client, LIST_WORKERS, ListWorkersRequestSchema, ListWorkersResponseSchema, create(ListWorkersRequestSchema));
  } finally {
    client.close();
  }
}

describe("host check on a plaintext server without tokens", () => {
  it("refuses a Connect JSON POST with Host: evil.example (421, no call made)", async () => {
    server = await startTestServer();
    const answer = await connectPost(server.port, "evil.example");
    expect(answer.status).toBe(421);
    expect(answer.body).toContain("evil.example");
    expect(answer.body).not.toContain(DUMMY_HIVE_ID);
  });

  it("refuses a foreign Host on plain HTTP routes too (/metrics-style GET)", async () => {
    server = await startTestServer({ httpRoutes: (_req, res) => (res.end("route answered"), true) });
    expect(await getPath(server.port, "evil.example:80", "/metrics")).toBe(421);
    expect(await getPath(server.port, `localhost:${server.port}`, "/metrics")).toBe(200);
  });

  it("serves Host: 127.0.0.1:PORT, localhost:PORT and [::1]:PORT", async () => {
    server = await startTestServer();
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`, "app.localhost"]) {
      const answer = await connectPost(server.port, host);
      expect(answer.status, host).toBe(200);
      expect(answer.body).toContain(DUMMY_HIVE_ID);
    }
  });

  it("serves a name given with allowHosts (--allow-host)", async () => {
    server = await startTestServer({ allowHosts: ["gpu-box.lan"] });
    expect((await connectPost(server.port, `gpu-box.lan:${server.port}`)).status).toBe(200);
    expect((await connectPost(server.port, "evil.example")).status).toBe(421);
  });

  it("serves the machine's own host name, which a hive advertises as its endpoint", async () => {
    server = await startTestServer();
    expect((await connectPost(server.port, `${os.hostname()}:${server.port}`)).status).toBe(200);
  });

  it("answers gRPC over HTTP/2 with a foreign :authority with PERMISSION_DENIED naming the host", async () => {
    server = await startTestServer();
    const err = (await grpcListWorkers(server.port, "evil.example").catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toContain("evil.example");
    const ok = await grpcListWorkers(server.port, `localhost:${server.port}`);
    expect(ok.hive?.hiveId).toBe(DUMMY_HIVE_ID);
  });

  it("does not check the Host when tokens authenticate the callers", async () => {
    // A token file makes every call authenticated; a rebound page has no token. Unauthenticated → 401, not 421.
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const path = await import("node:path");
    const file = path.join(mkdtempSync(path.join(tmpdir(), "host-check-")), "tokens");
    writeFileSync(file, "");
    server = await startTestServer({ tokenFile: file });
    expect((await connectPost(server.port, "evil.example")).status).toBe(401);
  });
});

describe("hostAllowed", () => {
  it("accepts loopback names and IP literals, refuses other names", () => {
    const allowed = (h: string) => hostAllowed(hostOf(h), []);
    for (const h of ["localhost", "LOCALHOST:8080", "localhost.", "a.b.localhost:1", "127.0.0.1", "127.9.9.9:5", "[::1]:7000", "10.0.0.5:7000", "[fe80::1]"]) expect(allowed(h), h).toBe(true);
    for (const h of ["evil.example", "evil.example:7000", "localhost.evil.example", "127.0.0.1.nip.io", "", "[::1"]) expect(allowed(h), h).toBe(false);
    expect(hostAllowed(hostOf("Gpu-Box.LAN:80"), ["gpu-box.lan"])).toBe(true);
  });
});
