import { X509Certificate } from "node:crypto";
import { renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as https from "node:https";
import * as tls from "node:tls";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import {
  FindWorkersRequestSchema,
  FindWorkersResponseSchema,
  HeartbeatRequestSchema,
  HeartbeatResponseSchema,
  QueenService,
  type HeartbeatResponse,
} from "../../gen/apiary/v1/queen_pb.js";
import { startQueen, type Queen } from "../../src/queen/queen.js";
import { newToken, tokenFileLine } from "../../src/rpc/auth/token-store.js";
import { createHttpRoutes, textReply } from "../../src/rpc/http-routes.js";
import { InsecureListenError } from "../../src/rpc/tls/listen-safety.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { captureLogs, nextEvent } from "../hive/hive-test-helpers.js";
import { waitFor } from "../helpers/wait.js";
import { makeHiveInfo } from "../queen/helpers/telemetry-builders.js";
import { TestHive } from "../queen/helpers/test-hive.js";
import { startTestServer } from "./support/start-test-server.js";
import { bidiStream, unary } from "./support/grpc-js.js";
import { TestPki, type IssuedFiles } from "./support/test-pki.js";

let queen: Queen | undefined;
afterEach(async () => {
  await queen?.close();
  queen = undefined;
});

async function tlsQueen(pki: TestPki, server: IssuedFiles, extra: { watchCredentials?: boolean } = {}) {
  const logs = captureLogs("info");
  queen = await startQueen({
    host: "127.0.0.1",
    port: 0,
    logger: logs.logger,
    shutdownGraceMs: 500,
    security: { tls: { certFile: server.cert, keyFile: server.key, clientCaFile: pki.caFile }, ...extra },
  });
  return { queen, logs };
}

/** The serial number of the certificate a new connection to the queen is served. */
function servedSerial(pki: TestPki, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port: Number(new URL(url).port), ca: pki.ca.certPem, ALPNProtocols: ["h2"] }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.on("error", reject);
  });
}

/** Replaces a file by rename, as cert-manager and most deploy tools do. */
function replace(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber;

describe("certificate rotation", () => {
  it("new connections get the replaced certificate while an open Heartbeat stays up (file change)", async () => {
    const pki = await TestPki.create();
    const server = await pki.issue("queen", { kind: "queen", name: "main" });
    const hiveCert = await pki.issue("hive-r", { kind: "hive", name: "hive-r" });
    const { queen, logs } = await tlsQueen(pki, server);
    const hive = await TestHive.connect(
      createApiaryTransport(queen.url, { credentials: { caFile: pki.caFile, certFile: hiveCert.cert, keyFile: hiveCert.key } }),
      "hive-r",
    );
    await hive.reportSynthetic({ workers: 1, gpus: 1 });
    expect(await servedSerial(pki, queen.url)).toBe(serialOf(server.certPem));

    const next = await pki.issue("queen-next", { kind: "queen", name: "main" });
    replace(server.key, next.keyPem);
    replace(server.cert, next.certPem);
    await waitFor(() => logs.lines.some((l) => l.msg === "credentials reloaded; new connections use them"), "the reload");

    expect(await servedSerial(pki, queen.url)).toBe(serialOf(next.certPem));
    const ack = await hive.reportSynthetic({ workers: 1, gpus: 1 });
    expect(ack.seq).toBe(2n);
    expect(queen.registry.hive("hive-r")?.connected).toBe(true);
    hive.abort();
  });

  it("SIGHUP reloads; files that do not make a pair are refused and the old certificate stays", async () => {
    const pki = await TestPki.create();
    const server = await pki.issue("queen", { kind: "queen", name: "main" });
    const { queen, logs } = await tlsQueen(pki, server, { watchCredentials: false });
    const next = await pki.issue("queen-next", { kind: "queen", name: "main" });

    replace(server.cert, next.certPem); // key not replaced yet: mismatch
    process.emit("SIGHUP", "SIGHUP");
    expect(logs.lines.some((l) => l.msg === "credentials not reloaded; keeping the previous ones")).toBe(true);
    expect(await servedSerial(pki, queen.url)).toBe(serialOf(server.certPem));

    replace(server.key, next.keyPem);
    expect(queen.server.reloadCredentials()).toEqual({ ok: true, changed: true });
    expect(await servedSerial(pki, queen.url)).toBe(serialOf(next.certPem));
  });
});

describe("one TLS port for every protocol", () => {
  it("serves Connect over HTTP/1.1 (ALPN http/1.1) beside gRPC over h2", async () => {
    const pki = await TestPki.create();
    const server = await pki.issue("queen", { kind: "queen", name: "main" });
    const reader = await pki.issue("reader", { kind: "client", name: "r", role: "reader" });
    const { queen } = await tlsQueen(pki, server);
    const h1 = createClient(
      QueenService,
      createConnectTransport({ baseUrl: queen.url, httpVersion: "1.1", nodeOptions: { ca: pki.ca.certPem, cert: reader.certPem, key: reader.keyPem } }),
    );
    expect((await h1.listHives({})).hives).toEqual([]);
  });

  it("a @grpc/grpc-js client with TLS credentials runs Heartbeat and FindWorkers", async () => {
    const pki = await TestPki.create();
    const server = await pki.issue("queen", { kind: "queen", name: "main" });
    const hiveCert = await pki.issue("hive-g", { kind: "hive", name: "hive-g" });
    const { queen } = await tlsQueen(pki, server);
    const credentials = grpc.credentials.createSsl(Buffer.from(pki.ca.certPem), Buffer.from(hiveCert.keyPem), Buffer.from(hiveCert.certPem));
    const client = new grpc.Client(new URL(queen.url).host, credentials);
    try {
      const stream = bidiStream(client, "/apiary.v1.QueenService/Heartbeat", HeartbeatRequestSchema, HeartbeatResponseSchema);
      stream.write(create(HeartbeatRequestSchema, { kind: { case: "hello", value: { hive: makeHiveInfo("hive-g"), incarnation: "i1" } } }));
      const welcome = await nextEvent<HeartbeatResponse>(stream, "data");
      expect(welcome.kind.case).toBe("welcome");
      expect(queen.registry.hive("hive-g")).toBeDefined();
      const found = await unary(client, "/apiary.v1.QueenService/FindWorkers", FindWorkersRequestSchema, FindWorkersResponseSchema, create(FindWorkersRequestSchema, { includeDegraded: true }));
      expect(found.totalMatches).toBe(0);
      stream.on("error", () => {}); // the cancel below ends it with CANCELLED
      stream.cancel();
    } finally {
      client.close();
    }
  });
});

describe("plain HTTP routes on a TLS port", () => {
  it("need a reader, like the RPCs: 401 without credentials, 403 for a hive, 200 for a reader token", async () => {
    const pki = await TestPki.create();
    const server = await pki.issue("queen", { kind: "queen", name: "main" });
    const hiveCert = await pki.issue("hive-m", { kind: "hive", name: "hive-m" });
    const token = newToken();
    const tokenFile = path.join(pki.dir, "tokens");
    writeFileSync(tokenFile, tokenFileLine("prometheus", "reader", token) + "\n");
    const rpc = await startTestServer({
      tls: { certFile: server.cert, keyFile: server.key, clientCaFile: pki.caFile },
      tokenFile,
      httpRoutes: createHttpRoutes({ routes: { "/metrics": () => textReply(200, "apiary_up 1") } }),
    });
    try {
      const get = (opts: https.RequestOptions) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = https.get(`${rpc.url}/metrics`, { ca: pki.ca.certPem, ...opts }, (res) => {
            let body = "";
            res.setEncoding("utf8").on("data", (d: string) => (body += d));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on("error", reject);
        });
      expect((await get({})).status).toBe(401);
      expect((await get({ cert: hiveCert.certPem, key: hiveCert.keyPem })).status).toBe(403);
      expect((await get({ headers: { authorization: "Bearer wrong" } })).status).toBe(401);
      expect(await get({ headers: { authorization: `Bearer ${token}` } })).toEqual({ status: 200, body: "apiary_up 1\n" });
    } finally {
      await rpc.close();
    }
  });
});

describe("safe defaults", () => {
  it("refuses to listen beyond loopback without TLS, naming the flags", async () => {
    const err = await startTestServer({ host: "0.0.0.0" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsecureListenError);
    expect((err as Error).message).toBe(
      "refusing to listen on 0.0.0.0 without TLS: give --tls-cert, --tls-key and --client-ca (or --token-file), or --insecure to accept the risk",
    );
  });

  it("refuses TLS without client authentication beyond loopback", async () => {
    const pki = await TestPki.create();
    const server = await pki.issue("queen", { kind: "queen", name: "main" });
    const err = await startTestServer({ host: "0.0.0.0", tls: { certFile: server.cert, keyFile: server.key } }).catch((e: unknown) => e);
    expect((err as Error).message).toContain("without client authentication: give --client-ca or --token-file");
  });

  it("starts with --insecure and says so in a warning", async () => {
    const logs = captureLogs("info");
    const server = await startTestServer({ host: "0.0.0.0", insecure: true, logger: logs.logger });
    try {
      expect(logs.warnings(/--insecure/)).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});
