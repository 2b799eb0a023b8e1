import type * as http from "node:http";
import * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString, endStreamFlag } from "@connectrpc/connect/protocol-connect";

/**
 * Answers an RPC request with an error from its headers alone, in the request's own protocol, and
 * never reads its body: gRPC and gRPC-Web get a trailers-only answer (HTTP 200, grpc-status in the
 * headers), Connect gets the HTTP status of the code with its JSON error body.
 */
export interface EarlyRefusal {
  code: Code;
  message: string;
}

const CONNECT_STREAM = /^application\/connect\+/i;
const GRPC_FAMILY = /^application\/grpc(?:-web(?:-text)?)?(?:[+;]|$)/i;

function answer(refusal: EarlyRefusal, contentType: string | undefined): { status: number; headers: Record<string, string>; body: string | Buffer } {
  if (GRPC_FAMILY.test(contentType ?? "")) {
    return {
      status: 200,
      headers: { "content-type": contentType ?? "application/grpc", "grpc-status": String(refusal.code), "grpc-message": encodeURIComponent(refusal.message) },
      body: "",
    };
  }
  const error = { code: codeToString(refusal.code), message: refusal.message };
  if (CONNECT_STREAM.test(contentType ?? "")) {
    // Connect streams carry errors in an end-stream message of an HTTP 200 answer.
    const json = Buffer.from(JSON.stringify({ error }));
    const envelope = Buffer.alloc(5 + json.length);
    envelope[0] = endStreamFlag;
    envelope.writeUInt32BE(json.length, 1);
    json.copy(envelope, 5);
    return { status: 200, headers: { "content-type": contentType ?? "application/connect+proto" }, body: envelope };
  }
  return { status: codeToHttpStatus(refusal.code), headers: { "content-type": "application/json" }, body: JSON.stringify(error) };
}

/** HTTP/1.1: answers and closes the connection, so the unread body is never taken in. */
export function refuseHttp1Request(res: http.ServerResponse, refusal: EarlyRefusal, contentType: string | undefined): void {
  const { status, headers, body } = answer(refusal, contentType);
  res.writeHead(status, { ...headers, connection: "close", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/**
 * HTTP/2: answers, then resets the stream (RST_STREAM NO_ERROR, as gRPC servers do after a
 * complete answer) so the client stops sending a body nobody reads; what is already in flight
 * (at most one stream window) is dropped as it arrives.
 */
export function refuseHttp2Stream(stream: http2.ServerHttp2Stream, refusal: EarlyRefusal, contentType: string | undefined): void {
  const { status, headers, body } = answer(refusal, contentType);
  const reset = (): void => {
    if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  };
  stream.on("error", () => undefined);
  // What already arrived is dropped, not held: buffered unread data counts against the session's
  // memory, and many refused streams at once would get the whole connection torn down.
  stream.resume();
  if (body.length === 0) {
    stream.respond({ ":status": status, ...headers }, { endStream: true });
  } else {
    stream.respond({ ":status": status, ...headers, "content-length": String(Buffer.byteLength(body)) });
    stream.end(body);
  }
  // Once the answer is handed to nghttp2 it goes out before the reset.
  if (stream.writableFinished) setImmediate(reset);
  else stream.once("finish", () => setImmediate(reset));
}
