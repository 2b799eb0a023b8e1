import { writeFileSync } from "node:fs";
import path from "node:path";
import * as tls from "node:tls";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { startQueen, type Queen } from "../../src/queen/queen.js";
import { newToken, tokenFileLine } from "../../src/rpc/auth/token-store.js";
import { createApiaryTransport, type ClientCredentials } from "../../src/rpc/transport.js";
import { captureLogs } from "../hive/hive-test-helpers.js";
import { TestHive } from "../queen/helpers/test-hive.js";
import { TestPki, type IssuedFiles } from "./support/test-pki.js";

let pki: TestPki;
let queen: Queen;
let hiveA: IssuedFiles;
let reader: IssuedFiles;
const readerToken = newToken();
const logs = captureLogs("info");
/** How connect-node reports a connection the server closed: an HTTP/2 CANCEL or a reset. */
const CONNECTION_LOST = [Code.Canceled, Code.Unavailable];

beforeAll(async () => {
  pki = await TestPki.create();
  const server = await pki.issue("queen", { kind: "queen", name: "main" });
  hiveA = await pki.issue("hive-a", { kind: "hive", name: "hive-a" });
  reader = await pki.issue("reader", { kind: "client", name: "alice", role: "reader" });
  const tokenFile = path.join(pki.dir, "tokens");
  writeFileSync(tokenFile, `# name role hash\n${tokenFileLine("dash", "reader", readerToken)}\n`);
  queen = await startQueen({
    host: "127.0.0.1",
    port: 0,
    logger: logs.logger,
    security: { tls: { certFile: server.cert, keyFile: server.key, clientCaFile: pki.caFile }, tokenFile },
  });
});
afterAll(async () => {
  await queen?.close();
});

function queenClient(credentials: ClientCredentials) {
  return createClient(QueenService, createApiaryTransport(queen.url, { credentials }));
}

async function codeOf(call: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await call;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

describe("a TLS queen with a client CA and tokens", () => {
  it("serves https and accepts a hive whose certificate names the hive_id of its hello", async () => {
    expect(queen.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const transport = createApiaryTransport(queen.url, { credentials: { caFile: pki.caFile, certFile: hiveA.cert, keyFile: hiveA.key } });
    const hive = await TestHive.connect(transport, "hive-a");
    expect(hive.welcome.epoch).toBe(queen.epoch);
    const ack = await hive.reportSynthetic({ workers: 1, gpus: 1 });
    expect(ack.seq).toBe(1n);
    hive.abort();
  });

  it("refuses a hello for another hive_id with PERMISSION_DENIED", async () => {
    const transport = createApiaryTransport(queen.url, { credentials: { caFile: pki.caFile, certFile: hiveA.cert, keyFile: hiveA.key } });
    const err = await TestHive.connect(transport, "hive-b").then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.PermissionDenied);
    expect(err?.rawMessage).toContain('hello says hive_id "hive-b" but the certificate names hive "hive-a"');
    expect(queen.registry.hive("hive-b")).toBeUndefined();
  });

  it("a client certificate that is not a hive's cannot Heartbeat", async () => {
    const transport = createApiaryTransport(queen.url, { credentials: { caFile: pki.caFile, certFile: reader.cert, keyFile: reader.key } });
    const err = await TestHive.connect(transport, "alice").then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.PermissionDenied);
  });

  it("answers UNAUTHENTICATED to a caller without a certificate or token", async () => {
    const client = queenClient({ caFile: pki.caFile });
    const err = await client.findWorkers({}).catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    expect((err as ConnectError).rawMessage).toContain("no credentials");
  });

  it("lets any authenticated client read: a reader certificate, a hive certificate, a reader token", async () => {
    expect(await codeOf(queenClient({ caFile: pki.caFile, certFile: reader.cert, keyFile: reader.key }).listHives({}))).toBe("ok");
    expect(await codeOf(queenClient({ caFile: pki.caFile, certFile: hiveA.cert, keyFile: hiveA.key }).findWorkers({}))).toBe("ok");
    expect(await codeOf(queenClient({ caFile: pki.caFile, token: readerToken }).findDevices({}))).toBe("ok");
  });

  it("refuses a wrong token with UNAUTHENTICATED", async () => {
    expect(await codeOf(queenClient({ caFile: pki.caFile, token: newToken() }).findWorkers({}))).toBe(Code.Unauthenticated);
  });

  it("ends the connection of a certificate from another CA before any call", async () => {
    const other = await TestPki.create();
    const stranger = await other.issue("stranger", { kind: "client", name: "mallory", role: "admin" });
    // Node verifies client certificates after the handshake and drops the connection (as its own
    // rejectUnauthorized does): the client sees the connection go, never an answer.
    const code = await codeOf(queenClient({ caFile: pki.caFile, certFile: stranger.cert, keyFile: stranger.key }).findWorkers({}));
    expect(CONNECTION_LOST).toContain(code);
    expect(await handshakeOutcome(stranger)).toBe("closed by server");
  });

  it("ends the connection of an expired certificate", async () => {
    const expired = await pki.issue("expired", { kind: "hive", name: "hive-old" }, {
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    expect(await handshakeOutcome(expired)).toBe("closed by server");
    const transport = createApiaryTransport(queen.url, { credentials: { caFile: pki.caFile, certFile: expired.cert, keyFile: expired.key } });
    const err = await TestHive.connect(transport, "hive-old").then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(CONNECTION_LOST).toContain(err?.code);
    expect(queen.registry.hive("hive-old")).toBeUndefined();
  });

  it("does not let a client through plaintext: the port speaks TLS only", async () => {
    const plain = createClient(QueenService, createApiaryTransport(queen.url.replace("https:", "http:")));
    expect(await codeOf(plain.findWorkers({}, { timeoutMs: 5_000 }))).not.toBe("ok");
  });

  it("logs a denial once per peer and reason, however often it repeats", async () => {
    const client = queenClient({ caFile: pki.caFile, token: "apiary_not-a-real-token" });
    for (let i = 0; i < 5; i++) await codeOf(client.findWorkers({}));
    const lines = logs.lines.filter((l) => l.msg === "access denied (logged once per peer and reason)" && l.reason === "bearer token not recognised");
    expect(lines).toHaveLength(1);
    expect(lines[0].peer).toBe("127.0.0.1");
  });

  it("logs a rejected client certificate with the reason", () => {
    const rejected = logs.lines.filter((l) => String(l.reason).startsWith("client certificate rejected"));
    expect(rejected.map((l) => l.reason)).toEqual(expect.arrayContaining([expect.stringMatching(/CERT_HAS_EXPIRED/)]));
  });
});

/** Opens a raw TLS connection with the given client certificate and tells how the server treated it. */
function handshakeOutcome(client: IssuedFiles): Promise<"closed by server" | "open"> {
  const { port } = new URL(queen.url);
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port: Number(port), ca: pki.ca.certPem, cert: client.certPem, key: client.keyPem, ALPNProtocols: ["h2"] });
    let settled = false;
    const done = (outcome: "closed by server" | "open") => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(outcome);
    };
    socket.on("error", () => done("closed by server"));
    socket.on("close", () => done("closed by server"));
    // The HTTP/2 server's SETTINGS frame arrives only on a connection the server kept.
    socket.on("data", () => done("open"));
  });
}
