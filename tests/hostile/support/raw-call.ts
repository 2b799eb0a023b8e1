import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { Code } from "@connectrpc/connect";

// One request, written by hand over HTTP/2 in one of the three protocols a server built on
// connect-node answers (gRPC, Connect binary, Connect JSON), with whatever bytes the caller gives.
// The answer is reduced to its code: a Code name ("InvalidArgument"), "OK" when the call succeeded,
// or "MESSAGE" when a stream sent a message first (the request was accepted; the stream is then
// cancelled). A call that neither answers nor ends by the deadline is "NO_ANSWER".

export type Protocol = "grpc" | "connect-proto" | "connect-json";

export interface RawCall {
  path: string;
  protocol: Protocol;
  streaming: boolean;
  /** The request message (enveloped here for gRPC and Connect streaming). */
  body: Uint8Array;
  /** Raw bytes to send instead of the enveloped body (a lying envelope, several messages). */
  wire?: Uint8Array;
  timeoutMs: number;
  /** More request headers (a credential). */
  headers?: Record<string, string>;
}

export function envelope(message: Uint8Array, flags = 0, claimedLength = message.length): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flags;
  out.writeUInt32BE(claimedLength, 1);
  out.set(message, 5);
  return out;
}

const CONNECT_CODES = new Map(Object.entries(Code).filter(([, v]) => typeof v === "number").map(([name]) => [name.replace(/[A-Z]/g, (c, i: number) => (i ? "_" : "") + c.toLowerCase()), name]));

function grpcCode(headers: IncomingHttpHeaders): string | undefined {
  const status = headers["grpc-status"];
  if (status === undefined) return undefined;
  const n = Number(status);
  return n === 0 ? "OK" : (Code[n] ?? `grpc-status ${status}`);
}

/** The code a client reads from a bare HTTP status (the gRPC and Connect specs' mappings). */
function httpCode(status: number): string {
  const mapped: Record<number, string> = { 400: "Internal", 401: "Unauthenticated", 403: "PermissionDenied", 404: "Unimplemented", 408: "DeadlineExceeded", 409: "Aborted", 412: "FailedPrecondition", 413: "ResourceExhausted", 415: "Internal", 429: "Unavailable", 431: "ResourceExhausted", 502: "Unavailable", 503: "Unavailable", 504: "Unavailable" };
  return mapped[status] ?? "Unknown";
}

function connectCode(json: string): string {
  try {
    const parsed = JSON.parse(json) as { code?: string; error?: { code?: string } };
    const code = parsed.error?.code ?? parsed.code;
    return code === undefined ? "OK" : (CONNECT_CODES.get(code) ?? `connect ${code}`);
  } catch {
    return `unparsable error body ${JSON.stringify(json.slice(0, 80))}`;
  }
}

function contentType(call: RawCall): string {
  if (call.protocol === "grpc") return "application/grpc";
  const json = call.protocol === "connect-json";
  if (call.streaming) return json ? "application/connect+json" : "application/connect+proto";
  return json ? "application/json" : "application/proto";
}

/** Sends one call on `session` and resolves with its code (see the file comment). */
export function rawCall(session: ClientHttp2Session, call: RawCall): Promise<string> {
  const headers: Record<string, string> = { ":method": "POST", ":path": call.path, "content-type": contentType(call), ...call.headers };
  if (call.protocol === "grpc") Object.assign(headers, { te: "trailers", "grpc-timeout": `${call.timeoutMs}m` });
  else Object.assign(headers, { "connect-protocol-version": "1", "connect-timeout-ms": String(call.timeoutMs) });
  const enveloped = call.protocol === "grpc" || call.streaming;
  const wire = call.wire ?? (enveloped ? envelope(call.body) : call.body);
  return new Promise((resolve) => {
    const stream = session.request(headers);
    let status = 0;
    let body = Buffer.alloc(0);
    let settled = false;
    const done = (code: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
      resolve(code);
    };
    const timer = setTimeout(() => done("NO_ANSWER"), call.timeoutMs + 2_000);
    stream.on("error", (err: NodeJS.ErrnoException) => done(`STREAM_ERROR ${err.code} (HTTP ${status || "none"}, rst ${stream.rstCode})`));
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      const trailersOnly = call.protocol === "grpc" ? grpcCode(h) : undefined;
      if (trailersOnly) done(trailersOnly);
    });
    stream.on("trailers", (h) => done(grpcCode(h) ?? "trailers without grpc-status"));
    stream.on("data", (chunk: Buffer) => {
      body = Buffer.concat([body, chunk]);
      if (!enveloped || body.length < 5) return;
      // gRPC or Connect streaming: a data message (flag 0) means the request was taken.
      if ((body[0] & 0x02) === 0) return done("MESSAGE");
      const length = body.readUInt32BE(1);
      if (body.length >= 5 + length) done(connectCode(body.subarray(5, 5 + length).toString("utf8")));
    });
    stream.on("end", () => {
      if (status !== 200 && body.length === 0) return done(httpCode(status));
      if (call.protocol === "grpc") return done("ended without grpc-status");
      if (!enveloped) return done(status === 200 ? "OK" : connectCode(body.toString("utf8")));
      done(`stream ended (HTTP ${status}, ${body.length} bytes)`);
    });
    stream.on("close", () => done(`closed (rst ${stream.rstCode})`));
    stream.end(wire);
  });
}

/** An HTTP/2 session to url that never throws at the caller (errors end its streams instead). */
export function rawSession(url: string): ClientHttp2Session {
  // Node's client session keeps counting the body bytes of a stream the server answered and reset
  // before reading them (an oversized or refused call) against its maxSessionMemory (10 MB by
  // default), and then refuses every new stream itself with ENHANCE_YOUR_CALM: two refused 4 MiB
  // calls would end the session's usefulness. The campaign's answers are the server's, not that.
  const session = connect(url, { maxSessionMemory: 1024 });
  session.on("error", () => {});
  return session;
}
