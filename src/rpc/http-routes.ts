import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { Authenticator } from "./auth/authenticator.js";
import type { Identity } from "./auth/identity.js";
import type { HttpRouteHook } from "./server.js";

export type HttpRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type HttpResponse = http.ServerResponse | http2.Http2ServerResponse;

/** What a route answers: a status, headers and a body (HEAD requests get the headers only). */
export interface HttpReply {
  status: number;
  headers?: Record<string, string>;
  body: string | Uint8Array;
}

/** Who is asking: undefined when the server runs without authentication (plaintext on loopback). */
export interface HttpCaller {
  identity: Identity | undefined;
}

export type HttpRouteHandler = (req: HttpRequest, caller: HttpCaller) => HttpReply | Promise<HttpReply>;

/** Decides whether a request may read a route: a caller lets it through, a reply refuses it (401, 403…). */
export type HttpAuthorizer = (req: HttpRequest, auth: Authenticator | undefined) => HttpCaller | HttpReply | Promise<HttpCaller | HttpReply>;

/** The default: with authentication on, a reader (or admin) certificate or bearer token, as for read RPCs. */
export const requireReader: HttpAuthorizer = (req, auth) => {
  if (!auth) return { identity: undefined };
  const result = auth.authenticateHttpRequest(req, "read");
  return result.ok ? { identity: result.identity } : textReply(result.status, result.message);
};

export interface HttpRoutesOptions {
  /** Exact paths ("/metrics", "/") to their handlers; only GET and HEAD reach them. */
  routes: Record<string, HttpRouteHandler>;
  /** Consulted before every route; default requireReader. */
  authorize?: HttpAuthorizer;
  /** Told about handlers that threw (they answer 500). */
  onError?: (err: unknown, path: string) => void;
}

/**
 * Plain HTTP GET routes for the RPC server's listener. Every other request (gRPC, Connect and
 * gRPC-Web calls are POSTs to /package.Service/Method; Connect GETs use those paths too) is left
 * to the RPC handler.
 */
export function createHttpRoutes(opts: HttpRoutesOptions): HttpRouteHook {
  const routes = new Map(Object.entries(opts.routes));
  return (req, res, auth) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const path = pathOf(req.url ?? "/");
    const route = routes.get(path);
    if (!route) return false;
    void answer(req, res, auth, path, route, opts);
    return true;
  };
}

function pathOf(url: string): string {
  const q = url.indexOf("?");
  return q === -1 ? url : url.slice(0, q);
}

async function answer(req: HttpRequest, res: HttpResponse, auth: Authenticator | undefined, path: string, route: HttpRouteHandler, opts: HttpRoutesOptions): Promise<void> {
  let reply: HttpReply;
  try {
    const decision = await (opts.authorize ?? requireReader)(req, auth);
    reply = "status" in decision ? decision : await route(req, decision);
  } catch (err) {
    opts.onError?.(err, path);
    reply = { status: 500, headers: { "content-type": "text/plain; charset=utf-8" }, body: `${path}: ${err instanceof Error ? err.message : String(err)}\n` };
  }
  if (res.destroyed || res.headersSent) return;
  const body = typeof reply.body === "string" ? Buffer.from(reply.body) : reply.body;
  const headers: Record<string, string | number> = { "cache-control": "no-store", ...reply.headers, "content-length": body.byteLength };
  // The two response types share these methods; TypeScript cannot call them through the union.
  const r = res as http.ServerResponse;
  r.writeHead(reply.status, headers);
  r.end(req.method === "HEAD" ? undefined : body);
}

/** A plain-text reply. */
export function textReply(status: number, text: string): HttpReply {
  return { status, headers: { "content-type": "text/plain; charset=utf-8" }, body: text.endsWith("\n") ? text : `${text}\n` };
}

/** For routes that carry no data (static pages and scripts): everyone may read them. */
export const allowEveryone: HttpAuthorizer = () => ({ identity: undefined });

/** Several route sets (each with its own authorizer) on one listener: the first that answers wins. */
export function combineHttpRoutes(...hooks: HttpRouteHook[]): HttpRouteHook {
  return (req, res, auth) => hooks.some((hook) => hook(req, res, auth));
}
