// Attack: with a token file, an unauthenticated peer sent 4 MiB request bodies that the server
// read and parsed before its auth interceptor refused them (48 such streams: RSS 69 → 277 MiB).
// The server now refuses from the headers: the answer comes while most of the body is unsent.
import { mkdtempSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { newToken, tokenFileLine } from "../../src/rpc/auth/token-store.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { startTestServer } from "./support/start-test-server.js";

const BODY_BYTES = 4 * 1024 * 1024;
const PATH = "/apiary.v1.HiveService/ListWorkers";

let server: RpcServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serverWithTokens(): Promise<{ server: RpcServer; token: string }> {
  const token = newToken();
  const tokenFile = path.join(mkdtempSync(path.join(tmpdir(), "apiary-auth-body-")), "tokens");
  writeFileSync(tokenFile, `${tokenFileLine("dash", "reader", token)}\n`);
  return { server: await startTestServer({ tokenFile, readMaxBytes: 8 * 1024 * 1024 }), token };
}

/** A 4 MiB gRPC frame (a valid length prefix, zero payload bytes: a big empty message). */
function bigGrpcBody(): Buffer {
  const body = Buffer.alloc(5 + BODY_BYTES);
  body.writeUInt32BE(BODY_BYTES, 1);
  return body;
}

interface Answer {
  grpcStatus: string | undefined;
  grpcMessage: string;
  /** Bytes the client had written on its connection when the answer came. */
  sentWhenAnswered: number;
}

function grpcCall(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers", ...headers });
    stream.on("error", () => undefined);
    stream.once("response", (h) => {
      const sent = session.socket.bytesWritten;
      const status = h["grpc-status"] as string | undefined;
      if (status !== undefined) resolve({ grpcStatus: status, grpcMessage: decodeURIComponent(String(h["grpc-message"] ?? "")), sentWhenAnswered: sent });
      else stream.once("trailers", (t) => resolve({ grpcStatus: t["grpc-status"] as string | undefined, grpcMessage: "", sentWhenAnswered: sent }));
    });
    stream.once("close", () => reject(new Error("stream closed without an answer")));
    stream.end(bigGrpcBody());
  });
}

describe("authorisation before the body is read", () => {
  it("answers UNAUTHENTICATED to a credential-less 4 MiB gRPC body before the body arrives, and resets the stream", async () => {
    ({ server } = await serverWithTokens());
    const session = http2.connect(server.url);
    session.on("error", () => undefined);
    try {
      const answer = await grpcCall(session, {});
      expect(answer.grpcStatus).toBe(String(Code.Unauthenticated));
      expect(answer.grpcMessage).toContain("no credentials");
      // Flow control lets at most one stream window (1 MiB) go out unread.
      expect(answer.sentWhenAnswered).toBeLessThan(BODY_BYTES / 2);
    } finally {
      session.destroy();
    }
  });

  it("still reads the body of a call that carries a good token", async () => {
    let token: string;
    ({ server, token } = await serverWithTokens());
    const session = http2.connect(server.url);
    session.on("error", () => undefined);
    try {
      const answer = await grpcCall(session, { authorization: `Bearer ${token}` });
      // The empty ListWorkersRequest (4 MiB of zero bytes is not valid protobuf, so it fails on decode):
      // what matters is that the body was read, which needs all of it.
      expect(answer.grpcStatus).not.toBe(String(Code.Unauthenticated));
      expect(answer.sentWhenAnswered).toBeGreaterThanOrEqual(BODY_BYTES);
    } finally {
      session.destroy();
    }
  });

  it("answers a Connect JSON POST without a token with HTTP 401 and closes the HTTP/1.1 connection unread", async () => {
    ({ server } = await serverWithTokens());
    const url = new URL(server.url);
    const result = await new Promise<{ status: number; body: string; closed: boolean; written: number }>((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname);
      const req = http.request({ createConnection: () => socket, method: "POST", path: PATH, headers: { host: url.host, "content-type": "application/json", "content-length": BODY_BYTES } }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => socket.once("close", () => resolve({ status: res.statusCode ?? 0, body, closed: true, written: socket.bytesWritten })));
      });
      req.on("error", (err) => (socket.destroyed ? undefined : reject(err)));
      req.write(Buffer.alloc(64 * 1024, 0x20));
    });
    expect(result.status).toBe(401);
    expect(JSON.parse(result.body)).toMatchObject({ code: "unauthenticated" });
    expect(result.closed).toBe(true);
    expect(result.written).toBeLessThan(BODY_BYTES);
  });
});
