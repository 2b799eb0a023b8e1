import type * as http from "node:http";
import * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";

/**
 * Answers an RPC request with an error from its headers alone, in the request's own protocol, and
 * never reads its body: gRPC and gRPC-Web get a trailers-only answer (HTTP 200, grpc-status in the
 * headers), Connect gets the HTTP status of the code with its JSON error body.
 */
export interface EarlyRefusal {
  code: Code;
  message: string;
}

const GRPC_FAMILY = /^application\/grpc(?:-web(?:-text)?)?(?:[+;]|$)/i;

function answer(refusal: EarlyRefusal, contentType: string | undefined): { status: number; headers: Record<string, string>; body: string } {
  if (GRPC_FAMILY.test(contentType ?? "")) {
    return {
      status: 200,
      headers: { "content-type": contentType ?? "application/grpc", "grpc-status": String(refusal.code), "grpc-message": encodeURIComponent(refusal.message) },
      body: "",
    };
  }
  const body = JSON.stringify({ code: codeToString(refusal.code), message: refusal.message });
  return { status: codeToHttpStatus(refusal.code), headers: { "content-type": "application/json" }, body };
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
  if (body === "") {
    stream.respond({ ":status": status, ...headers }, { endStream: true });
  } else {
    stream.respond({ ":status": status, ...headers, "content-length": String(Buffer.byteLength(body)) });
    stream.end(body);
  }
  // Once the answer is handed to nghttp2 it goes out before the reset.
  if (stream.writableFinished) setImmediate(reset);
  else stream.once("finish", () => setImmediate(reset));
}
