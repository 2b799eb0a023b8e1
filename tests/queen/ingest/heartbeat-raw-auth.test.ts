import { readFileSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import path from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeartbeatRequestSchema, HeartbeatResponseSchema, type HeartbeatRequest, type HeartbeatResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { encodeGrpcFrame } from "../../../src/rpc/grpc-frame-reader.js";
import { startQueen, type Queen } from "../../../src/queen/queen.js";
import { newToken, tokenFileLine } from "../../../src/rpc/auth/token-store.js";
import { TestPki, type IssuedFiles } from "../../rpc/support/test-pki.js";
import { makeHiveInfo } from "../helpers/telemetry-builders.js";

// Authorisation of Heartbeat on the raw gRPC path must be the interceptor chain's: the same
// refusals, code and message, as a queen that sends every Heartbeat through connect-node.
const PATH = "/apiary.v1.QueenService/Heartbeat";
let pki: TestPki;
let hiveA: IssuedFiles;
let reader: IssuedFiles;
const readerToken = newToken();
let raw: Queen;
let viaConnect: Queen;

async function tlsQueen(rawPath: boolean): Promise<Queen> {
  const server = await pki.issue("queen", { kind: "queen", name: "main" });
  const tokenFile = path.join(pki.dir, "tokens");
  writeFileSync(tokenFile, `${tokenFileLine("dash", "reader", readerToken)}\n`);
  return await startQueen({
    host: "127.0.0.1",
    port: 0,
    logger: pino({ level: "silent" }),
    shutdownGraceMs: 500,
    security: { tls: { certFile: server.cert, keyFile: server.key, clientCaFile: pki.caFile }, tokenFile },
    // The other queen sends every Heartbeat through connect-node.
    rawFastPaths: rawPath ? true : ["Watch"],
  });
}

beforeAll(async () => {
  pki = await TestPki.create();
  hiveA = await pki.issue("hive-a", { kind: "hive", name: "hive-a" });
  reader = await pki.issue("reader", { kind: "client", name: "alice", role: "reader" });
  raw = await tlsQueen(true);
  viaConnect = await tlsQueen(false);
});
afterAll(async () => {
  await raw?.close();
  await viaConnect?.close();
});

const hello = (hiveId: string): HeartbeatRequest => create(HeartbeatRequestSchema, { kind: { case: "hello", value: { hive: makeHiveInfo(hiveId), incarnation: "i1" } } });

interface Credentials {
  cert?: IssuedFiles;
  token?: string;
}

/** Says hello with grpc-js over TLS; the first response (welcome) or the status the call ended with. */
async function sayHello(queen: Queen, hiveId: string, creds: Credentials): Promise<{ code: number; details: string; first?: HeartbeatResponse["kind"]["case"] }> {
  const ca = readFileSync(pki.caFile);
  const channel = creds.cert
    ? grpc.credentials.createSsl(ca, readFileSync(creds.cert.key), readFileSync(creds.cert.cert))
    : grpc.credentials.createSsl(ca);
  const client = new grpc.Client(`localhost:${raw === queen ? raw.server.port : viaConnect.server.port}`, channel);
  try {
    const metadata = new grpc.Metadata();
    if (creds.token) metadata.set("authorization", `Bearer ${creds.token}`);
    const call = client.makeBidiStreamRequest(
      PATH,
      (m: HeartbeatRequest) => Buffer.from(toBinary(HeartbeatRequestSchema, m)),
      (b: Buffer) => fromBinary(HeartbeatResponseSchema, b),
      metadata,
    );
    call.on("error", () => {});
    const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    const first = new Promise<HeartbeatResponse>((resolve) => call.once("data", resolve));
    call.write(hello(hiveId));
    const outcome = await Promise.race([first, status]);
    if ("kind" in outcome) {
      call.cancel();
      return { code: grpc.status.OK, details: "", first: outcome.kind.case };
    }
    return { code: outcome.code, details: outcome.details };
  } finally {
    client.close();
  }
}

describe("raw gRPC Heartbeat: authorisation", () => {
  const cases: [string, string, () => Credentials, number][] = [
    ["a hive certificate saying its own hive_id", "hive-a", () => ({ cert: hiveA }), grpc.status.OK],
    ["a hive certificate saying another hive_id", "hive-b", () => ({ cert: hiveA }), grpc.status.PERMISSION_DENIED],
    ["no certificate and no token", "hive-x", () => ({}), grpc.status.UNAUTHENTICATED],
    ["a reader's certificate", "alice", () => ({ cert: reader }), grpc.status.PERMISSION_DENIED],
    ["a reader's bearer token", "dash", () => ({ token: readerToken }), grpc.status.PERMISSION_DENIED],
    ["an unknown bearer token", "hive-y", () => ({ token: newToken() }), grpc.status.UNAUTHENTICATED],
  ];
  for (const [name, hiveId, creds, code] of cases) {
    it(`${name}: ${grpc.status[code]}, with the same message as through connect-node`, async () => {
      const expected = await sayHello(viaConnect, hiveId, creds());
      const got = await sayHello(raw, hiveId, creds());
      expect(expected.code).toBe(code);
      expect(got).toEqual(expected);
      if (code === grpc.status.OK) expect(got.first).toBe("welcome");
      else expect(raw.registry.hive(hiveId)).toBeUndefined();
    });
  }

  it("the two queens really take different paths (a truncated request tells them apart)", async () => {
    const truncated = encodeGrpcFrame(toBinary(HeartbeatRequestSchema, hello("hive-a"))).subarray(0, 9);
    const messageOf = async (queen: Queen): Promise<string> => {
      const session = http2.connect(queen.url, { ca: readFileSync(pki.caFile), cert: readFileSync(hiveA.cert), key: readFileSync(hiveA.key), servername: "localhost" });
      try {
        const req = session.request({ ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers" });
        let end: http2.IncomingHttpHeaders = {};
        req.on("response", (h) => (end = h["grpc-status"] !== undefined ? h : end));
        req.on("trailers", (t) => (end = t));
        req.on("error", () => {});
        req.resume();
        const closed = new Promise<void>((resolve) => req.on("close", resolve));
        req.end(truncated);
        await closed;
        return `${String(end["grpc-status"])} ${decodeURIComponent(String(end["grpc-message"]))}`;
      } finally {
        session.close();
      }
    };
    expect(await messageOf(raw)).toBe("3 protocol error: the request ended inside a message");
    expect(await messageOf(viaConnect)).not.toBe("3 protocol error: the request ended inside a message");
  });
});
