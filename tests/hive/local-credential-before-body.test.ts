// Attack: on a hive without TLS or tokens (plaintext loopback, `apiary up`) the local-credential check
// ran as an interceptor, after the body was read and decoded: an unauthenticated local process or a
// DNS-rebound page made the root hive take in and parse 4 MiB per SpawnWorker stream before refusing
// it, and got INTERNAL, INVALID_ARGUMENT or RESOURCE_EXHAUSTED instead of UNAUTHENTICATED. The check
// now runs in the request gate from the headers: the answer comes while most of the body is unsent.
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import path from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHive, type Hive } from "../../src/hive/hive.js";
import { LOCAL_CREDENTIAL_HEADER, localCredentialFile } from "../../src/rpc/auth/local-credential.js";
import { captureLogs, tempDir } from "./hive-test-helpers.js";

const BODY_BYTES = 4 * 1024 * 1024;
const SPAWN = "/apiary.v1.HiveService/SpawnWorker";

/** One envelope claiming `claimed` bytes, followed by `sent` zero bytes (zeros are no valid SpawnWorkerRequest). */
function envelope(claimed: number, sent = claimed, flags = 0): Buffer {
  const body = Buffer.alloc(5 + sent);
  body[0] = flags;
  body.writeUInt32BE(claimed, 1);
  return body;
}

interface Answer {
  status: number;
  grpcStatus: string | undefined;
  message: string;
  /** Bytes the client had written on its connection when the answer's headers came. */
  sentWhenAnswered: number;
}

/** One request over HTTP/2 with `body`; the answer's code from its headers (trailers-only) or its trailers. */
function h2Call(session: http2.ClientHttp2Session, contentType: string, body: Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": SPAWN, "content-type": contentType, te: "trailers", ...headers });
    stream.on("error", () => undefined);
    let text = "";
    stream.on("data", (c: Buffer) => (text += c.toString("latin1")));
    stream.once("response", (h) => {
      const sent = session.socket.bytesWritten;
      const status = Number(h[":status"]);
      const grpcStatus = h["grpc-status"] as string | undefined;
      if (grpcStatus !== undefined) {
        resolve({ status, grpcStatus, message: decodeURIComponent(String(h["grpc-message"] ?? "")), sentWhenAnswered: sent });
        return;
      }
      stream.once("trailers", (t) => resolve({ status, grpcStatus: t["grpc-status"] as string | undefined, message: decodeURIComponent(String(t["grpc-message"] ?? "")), sentWhenAnswered: sent }));
      stream.once("end", () => resolve({ status, grpcStatus: undefined, message: text, sentWhenAnswered: sent }));
    });
    stream.once("close", () => reject(new Error("stream closed without an answer")));
    stream.end(body);
  });
}

describe("the hive's local credential is checked before the body is read", () => {
  let hive: Hive;
  const logs = captureLogs("info");
  beforeAll(async () => {
    hive = await startHive({ port: 0, gpuEnabled: false, cgroupMode: "none", stateDir: path.join(tempDir("apiary-cred-body-"), "state"), logger: logs.logger });
  });
  afterAll(async () => hive?.close({ stopWorkers: true }));
  const connect = (): http2.ClientHttp2Session => {
    const s = http2.connect(hive.url);
    s.on("error", () => undefined);
    return s;
  };

  it("refuses an anonymous 4 MiB gRPC SpawnWorker UNAUTHENTICATED with most of the body unread, naming the header and the file, and audits it", async () => {
    const session = connect();
    try {
      const answer = await h2Call(session, "application/grpc", envelope(BODY_BYTES));
      expect(answer.grpcStatus).toBe(String(Code.Unauthenticated));
      expect(answer.message).toContain(LOCAL_CREDENTIAL_HEADER);
      expect(answer.message).toContain(localCredentialFile(hive.server.port));
      // Flow control lets at most one stream window (1 MiB) go out unread.
      expect(answer.sentWhenAnswered).toBeLessThan(BODY_BYTES / 2);
    } finally {
      session.destroy();
    }
    const audit = logs.lines.filter((l) => l.component === "audit" && l.audit === "SpawnWorker");
    expect(audit).toContainEqual(expect.objectContaining({ caller: "anonymous", peer: "127.0.0.1", outcome: "Unauthenticated", message: "no local credential" }));
    expect(hive.supervisor.list()).toEqual([]);
  });

  it("refuses an anonymous oversized write (an envelope claiming 8 MiB) UNAUTHENTICATED, not RESOURCE_EXHAUSTED", async () => {
    const session = connect();
    try {
      const answer = await h2Call(session, "application/grpc", envelope(2 * BODY_BYTES, 64 * 1024));
      expect(answer.grpcStatus).toBe(String(Code.Unauthenticated));
    } finally {
      session.destroy();
    }
  });

  it("refuses gRPC-Web and Connect (HTTP/2) the same way, before their 4 MiB bodies, and a wrong credential too", async () => {
    const session = connect();
    try {
      const web = await h2Call(session, "application/grpc-web+proto", envelope(BODY_BYTES));
      expect(web.grpcStatus).toBe(String(Code.Unauthenticated));
      expect(web.sentWhenAnswered).toBeLessThan(BODY_BYTES / 2);
      const connectProto = await h2Call(session, "application/proto", Buffer.alloc(BODY_BYTES), { [LOCAL_CREDENTIAL_HEADER]: "apiary_local_guess" });
      expect(connectProto.status).toBe(401);
      expect(JSON.parse(connectProto.message)).toMatchObject({ code: "unauthenticated" });
      expect(connectProto.sentWhenAnswered).toBeLessThan(BODY_BYTES / 2);
    } finally {
      session.destroy();
    }
    const audit = logs.lines.filter((l) => l.component === "audit" && l.audit === "SpawnWorker");
    expect(audit).toContainEqual(expect.objectContaining({ caller: "anonymous", outcome: "Unauthenticated", message: "a wrong local credential" }));
  });

  it("answers an anonymous Connect JSON StopWorker over HTTP/1.1 with 401 and closes the connection unread", async () => {
    const url = new URL(hive.url);
    const result = await new Promise<{ status: number; body: string; written: number }>((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname);
      const req = http.request(
        { createConnection: () => socket, method: "POST", path: "/apiary.v1.HiveService/StopWorker", headers: { host: url.host, "content-type": "application/json", "content-length": BODY_BYTES } },
        (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => socket.once("close", () => resolve({ status: res.statusCode ?? 0, body, written: socket.bytesWritten })));
        },
      );
      req.on("error", (err) => (socket.destroyed ? undefined : reject(err)));
      req.write(Buffer.alloc(64 * 1024, 0x20));
    });
    expect(result.status).toBe(401);
    expect(JSON.parse(result.body)).toMatchObject({ code: "unauthenticated", message: expect.stringContaining(LOCAL_CREDENTIAL_HEADER) });
    expect(result.written).toBeLessThan(BODY_BYTES);
    const audit = logs.lines.filter((l) => l.component === "audit" && l.audit === "StopWorker");
    expect(audit).toContainEqual(expect.objectContaining({ caller: "anonymous", outcome: "Unauthenticated" }));
  });

  it("still reads the whole body of a write that carries the credential", async () => {
    const credential = readFileSync(localCredentialFile(hive.server.port), "utf8").trim();
    const session = connect();
    try {
      const answer = await h2Call(session, "application/grpc", envelope(BODY_BYTES - 1024), { [LOCAL_CREDENTIAL_HEADER]: credential });
      // Zeros are no valid SpawnWorkerRequest: what matters is that the body was read, which needs all of it.
      expect(answer.grpcStatus).not.toBe(String(Code.Unauthenticated));
      expect(answer.sentWhenAnswered).toBeGreaterThanOrEqual(BODY_BYTES - 1024);
    } finally {
      session.destroy();
    }
    expect(hive.supervisor.list()).toEqual([]);
  });
});
