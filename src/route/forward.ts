import * as http from "node:http";
import * as https from "node:https";
import type { HttpRequest, HttpResponse } from "../rpc/http-routes.js";

/** Headers that belong to one connection, never forwarded (HTTP/2 refuses them outright). */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);
/** … and, of a request, what the router sets itself. A response keeps its content-length: the bytes pass unchanged. */
const NOT_FORWARDED = new Set([...HOP_BY_HOP, "host", "content-length"]);

export interface ForwardRequest {
  req: HttpRequest;
  res: HttpResponse;
  /** The worker's API base, e.g. "http://10.0.0.7:8000". */
  baseUrl: string;
  /** The request's path and query, as the client sent them. */
  path: string;
  body: Buffer;
  /** Response headers the router adds (x-apiary-worker). */
  extraHeaders: Record<string, string>;
  connectTimeoutMs: number;
  agents: WorkerAgents;
  onFirstByte: () => void;
}

/** Kept-alive connections to the workers, one pool per scheme. */
export interface WorkerAgents {
  http: http.Agent;
  https: https.Agent;
}

export function createWorkerAgents(): WorkerAgents {
  const options = { keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, noDelay: true };
  return { http: new http.Agent(options), https: new https.Agent(options) };
}

/**
 * How one try ended. `connect-failed`: the worker never took the request (refused, unreachable,
 * timed out connecting, a kept-alive connection it had closed): safe to send elsewhere, and
 * nothing reached the client. `failed`: it took it and gave no answer. `broken`: the answer
 * stopped part way (the client's response is cut). `answered`: passed through to its end, or the
 * client went away (`clientGone`), which cancels the worker's request.
 */
export type ForwardOutcome =
  | { kind: "connect-failed"; error: Error }
  | { kind: "failed"; error: Error }
  | { kind: "broken"; status: number; error: Error }
  | { kind: "answered"; status: number; clientGone: boolean };

const CONNECT_ERRORS = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EADDRNOTAVAIL", "ECONNECT_TIMEOUT"]);

/** Sends the request to one worker and streams its answer through as it arrives. */
export function forwardOnce(f: ForwardRequest): Promise<ForwardOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: ForwardOutcome) => {
      if (settled) return;
      settled = true;
      f.res.off("close", onClientClose);
      resolve(outcome);
    };
    const url = new URL(f.baseUrl.replace(/\/$/, "") + f.path);
    const secure = url.protocol === "https:";
    const upstream = (secure ? https : http).request(url, {
      method: "POST",
      agent: secure ? f.agents.https : f.agents.http,
      headers: { ...forwardedHeaders(f.req), "content-length": String(f.body.length) },
    });
    let connected = false;
    let responded = false;
    const onClientClose = () => {
      if (!responded) {
        upstream.destroy();
        settle({ kind: "answered", status: 499, clientGone: true });
      }
    };
    f.res.once("close", onClientClose);
    upstream.on("socket", (socket) => {
      if (!socket.connecting) {
        connected = true;
        return;
      }
      const timer = setTimeout(() => {
        const err = Object.assign(new Error(`connecting to ${url.host}: no connection within ${f.connectTimeoutMs} ms`), { code: "ECONNECT_TIMEOUT" });
        upstream.destroy(err);
      }, f.connectTimeoutMs);
      socket.once(secure ? "secureConnect" : "connect", () => {
        connected = true;
        clearTimeout(timer);
      });
      socket.once("close", () => clearTimeout(timer));
    });
    upstream.on("error", (error: NodeJS.ErrnoException) => {
      if (responded) return;
      const code = error.code ?? "";
      // A kept-alive connection the worker closed as we reused it: the request never reached it.
      const staleReuse = upstream.reusedSocket && (code === "ECONNRESET" || code === "EPIPE");
      settle({ kind: !connected || CONNECT_ERRORS.has(code) || staleReuse ? "connect-failed" : "failed", error });
    });
    upstream.on("response", (answer) => {
      responded = true;
      const status = answer.statusCode ?? 502;
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
      Object.assign(headers, f.extraHeaders);
      const res = f.res as http.ServerResponse;
      if (res.destroyed) {
        answer.destroy();
        settle({ kind: "answered", status, clientGone: true });
        return;
      }
      res.writeHead(status, headers);
      // Server-sent events: the client learns at once that the stream is open.
      if (String(answer.headers["content-type"] ?? "").startsWith("text/event-stream")) res.flushHeaders();
      answer.once("data", f.onFirstByte);
      // pipe honours backpressure (pauses the worker's answer while the client's socket is full);
      // either side failing ends the other: a client that goes away cancels the worker's request.
      // (Not stream.pipeline: its per-call AbortController costs ~6 % of the router's CPU.)
      const workerFailed = (err: Error) => {
        if (settled) return;
        res.destroy(err);
        settle({ kind: "broken", status, error: err });
      };
      answer.once("aborted", () => workerFailed(new Error("the worker closed the connection mid-response")));
      answer.once("error", workerFailed);
      answer.once("end", () => {
        if (!answer.complete) workerFailed(new Error("the worker's response ended early"));
      });
      res.once("close", () => {
        if (res.writableFinished) settle({ kind: "answered", status, clientGone: false });
        else if (!settled) {
          answer.destroy();
          settle({ kind: "answered", status, clientGone: true });
        }
      });
      answer.pipe(res);
    });
    upstream.end(f.body);
  });
}

function forwardedHeaders(req: HttpRequest): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    // The router's own credential stays with the router; HTTP/2 pseudo-headers are not headers.
    if (value === undefined || name.startsWith(":") || NOT_FORWARDED.has(name) || name === "authorization") continue;
    out[name] = value;
  }
  const peer = req.socket?.remoteAddress;
  if (peer) {
    const prior = req.headers["x-forwarded-for"];
    out["x-forwarded-for"] = prior ? `${String(prior)}, ${peer}` : peer;
  }
  return out;
}
