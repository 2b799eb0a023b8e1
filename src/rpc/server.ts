import { setMaxListeners } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { pino } from "pino";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { HealthStatus, ServingStatus, createHealthService } from "./health.js";
import { sniffProtocol } from "./protocol-sniffer.js";
import { createHostCheck, refuseHttp1, refuseHttp2, type HostCheck } from "./host-check.js";
import { Authenticator, PEER_CERTIFICATE, type PeerCertificate } from "./auth/authenticator.js";
import type { Permission } from "./auth/policy.js";
import { identityFromSans, uriSans } from "./auth/identity.js";
import { TokenStore } from "./auth/token-store.js";
import { checkListenSecurity } from "./tls/listen-safety.js";
import { DirectoryWatcher, loadServerTls, type ServerTlsFiles } from "./tls/server-credentials.js";
import { ConnectionLimits } from "./admission/connection-limits.js";
import { refuseHttp1Request, refuseHttp2Stream } from "./admission/early-refusal.js";
import { PerPeerStreamCaps } from "./admission/per-peer-stream-caps.js";
import { pathOfUrl, RequestGate } from "./admission/request-gate.js";
import { resolveServerLimits, type ServerLimits } from "./server-limits.js";
import type { DescMethod } from "@bufbuild/protobuf";

export type { ServerTlsFiles } from "./tls/server-credentials.js";
import { REFLECTION_SERVICES, createReflectionV1, createReflectionV1alpha } from "./reflection.js";
import { ReflectionIndex } from "./reflection-index.js";
import * as reflectionV1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as reflectionV1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

export interface ServiceRegistration {
  service: DescService;
  impl: Partial<ServiceImpl<any>> | ServiceImpl<any>;
}

/** TLS, client authentication and the loopback rule of a server; queen and hive take the same. */
export interface ServerSecurity {
  /** Serve TLS (HTTP/2 and HTTP/1.1 by ALPN) with these files; with clientCaFile, client certificates are verified. */
  tls?: ServerTlsFiles;
  /** Bearer tokens (NAME ROLE sha256:HEX per line); enables authentication like a client CA does. */
  tokenFile?: string;
  /** Allow a non-loopback listener without TLS or client authentication (logged as a warning). */
  insecure?: boolean;
  /** Reload certificates and tokens when their files change; default true (SIGHUP always reloads). */
  watchCredentials?: boolean;
  /**
   * Without TLS and tokens, only loopback names and IP literals are served as Host (DNS rebinding
   * defence, see host-check.ts); these names are served too (--allow-host).
   */
  allowHosts?: string[];
  /** Connection and stream caps (server-limits.ts); each one left out takes its default. */
  limits?: Partial<ServerLimits>;
}

export interface RpcServerOptions extends ServerSecurity {
  host: string;
  /** 0 picks a free port; the server's `port` tells which. */
  port: number;
  logger: pino.Logger;
  services: ServiceRegistration[];
  /** Largest request message accepted; bigger ones fail with RESOURCE_EXHAUSTED. Default 4 MiB. */
  readMaxBytes?: number;
  /** How long close() lets open calls finish before cutting connections. Default 5 s. */
  shutdownGraceMs?: number;
  /**
   * How long a connection may take to send its first bytes (TLS handshake, HTTP/2 preface) and an
   * HTTP/1.1 request its headers; the connection is closed after. Default 10 s.
   */
  headersTimeoutMs?: number;
  /** How long an HTTP/1.1 request may take to arrive whole (headers and body). Default 5 min. */
  requestTimeoutMs?: number;
  /**
   * An HTTP/2 connection with no open stream and no traffic for this long is closed (long-lived
   * Heartbeat and Watch streams keep theirs open however quiet). Default 5 min.
   */
  idleTimeoutMs?: number;
  interceptors?: Interceptor[];
  /**
   * Consulted before the RPC handler for every HTTP request (HTTP/1.1 and HTTP/2): returns true
   * when it answered the request itself (plain HTTP routes such as /metrics on the same port).
   */
  httpRoutes?: HttpRouteHook;
  /**
   * Methods whose binary-encoded requests (gRPC, gRPC-Web, Connect with proto) go to these
   * registrations instead of `services`: same paths, a request schema of the route's own (e.g.
   * one that leaves the request undecoded). JSON requests to those methods still reach `services`.
   */
  binaryRoutes?: BinaryRoute[];
  /**
   * Raw HTTP/2 stream handlers for some streams of methods served here (see raw-grpc-stream.ts);
   * each is asked before connect-node sees a stream.
   */
  http2Streams?: ((setup: Http2StreamSetup) => Http2StreamHandler)[];
  /** Long-lived streaming methods capped per peer address (limits.maxStreamsPerPeer); Health.Watch always is. */
  perPeerStreamMethods?: DescMethod[];
  /** The permission each method needs (default: policy.ts's requiredPermission). */
  permissionOf?: (serviceTypeName: string, methodName: string) => Permission;
}

/** A binary-only registration; its own interceptors run first (outermost), before the server's. */
export interface BinaryRoute extends ServiceRegistration {
  interceptors?: Interceptor[];
}

/** What a raw HTTP/2 stream handler shares with connect-node's handlers on this server. */
export interface Http2StreamSetup {
  /** The server's interceptors (authorisation first, when enabled), as connect-node runs them. */
  interceptors: Interceptor[];
  /** The call's context values (its peer), as connect-node's adapter makes them. */
  contextValues: (stream: http2.ServerHttp2Stream) => ContextValues;
  readMaxBytes: number;
  shutdownSignal: AbortSignal;
}

/** Takes the stream (true) or leaves it to connect-node (false); called for every HTTP/2 stream. */
export type Http2StreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;

export interface ReloadResult {
  ok: boolean;
  changed: boolean;
  error?: string;
}

export type HttpRouteHook = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
  /** The server's authenticator: `auth.authenticateHttpRequest(req, "read")` guards a route like an RPC. */
  auth: Authenticator,
) => boolean;

export interface RpcServer {
  readonly host: string;
  readonly port: number;
  /** http://host:port, or https:// with TLS */
  readonly url: string;
  readonly tls: boolean;
  readonly health: HealthStatus;
  /** Authenticates callers and checks roles; `authenticateHttpRequest` for HTTP routes on this port. */
  readonly auth: Authenticator;
  /** Re-reads certificates and tokens (SIGHUP does this); open connections keep what they had. */
  reloadCredentials(): ReloadResult;
  /** Aborted (with a ConnectError UNAVAILABLE as reason) as soon as close() starts. */
  readonly shutdownSignal: AbortSignal;
  /** Graceful stop; idempotent, every call returns the same promise. */
  close(): Promise<void>;
}

export const DEFAULT_READ_MAX_BYTES = 4 * 1024 * 1024;
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;

const HTTP2_SETTINGS: http2.Settings = {
  initialWindowSize: 1024 * 1024,
  maxHeaderListSize: 64 * 1024,
};

/** An AbortSignal that fires when either the call's signal or the server's shutdown does. */
export function abortOnShutdown(ctxSignal: AbortSignal, server: Pick<RpcServer, "shutdownSignal">): AbortSignal {
  return AbortSignal.any([ctxSignal, server.shutdownSignal]);
}

// Content types whose messages are protobuf binary: gRPC (default codec proto), gRPC-Web, Connect.
const BINARY_CONTENT_TYPE = /^application\/(?:grpc(?:-web(?:-text)?)?(?:\+proto)?|connect\+proto|proto)\s*(?:;|$)/i;

type NodeHandler = ReturnType<typeof connectNodeAdapter>;

/** Sends binary requests for the routes' paths to an adapter of their own, everything else to `fallback`. */
function routeBinaryRequests(routes: BinaryRoute[], options: Omit<Parameters<typeof connectNodeAdapter>[0], "routes">, fallback: NodeHandler): NodeHandler {
  if (routes.length === 0) return fallback;
  const paths = new Set(routes.flatMap((r) => r.service.methods.map((m) => `/${m.parent.typeName}/${m.name}`)));
  const binary = connectNodeAdapter({
    ...options,
    interceptors: [...routes.flatMap((r) => r.interceptors ?? []), ...(options.interceptors ?? [])],
    routes(router) {
      for (const { service, impl } of routes) router.service(service, impl);
    },
  });
  return (req, res) => {
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (paths.has(path) && BINARY_CONTENT_TYPE.test(String(req.headers["content-type"] ?? ""))) binary(req, res);
    else fallback(req, res);
  };
}

/**
 * Serves the given services, plus grpc.health.v1 and server reflection (v1 and v1alpha),
 * on one TCP port: gRPC over HTTP/2 (h2c, or h2 by ALPN with TLS), and Connect, gRPC-Web and
 * gRPC over HTTP/1.1. With a client CA or a token file every call is authenticated and
 * authorised (src/rpc/auth/policy.ts).
 */
export async function startRpcServer(opts: RpcServerOptions): Promise<RpcServer> {
  const { logger } = opts;
  const headersTimeoutMs = opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const requestTimeoutMs = Math.max(opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, headersTimeoutMs);
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const warning = checkListenSecurity({
    host: opts.host,
    tls: opts.tls !== undefined,
    clientAuth: opts.tls?.clientCaFile !== undefined || opts.tokenFile !== undefined,
    insecure: opts.insecure === true,
  });
  let loaded = opts.tls ? loadServerTls(opts.tls) : undefined;
  const tokens = opts.tokenFile ? TokenStore.fromFile(opts.tokenFile) : undefined;
  // With TLS a rebound name fails the certificate check; with tokens a rebound page has none.
  const hostCheck = !opts.tls && !tokens ? createHostCheck(opts.allowHosts ?? []) : undefined;
  const auth = new Authenticator({
    enabled: opts.tls?.clientCaFile !== undefined || tokens !== undefined,
    tokens,
    logger,
    permissionOf: opts.permissionOf,
  });
  const limits = resolveServerLimits(opts.limits);
  const connectionLimits = new ConnectionLimits({ ...limits, onRefused: (address, reason) => auth.recordDenial(address, reason) });
  const cappedStreams = [Health.method.watch, ...(opts.perPeerStreamMethods ?? [])].map((m) => `/${m.parent.typeName}/${m.name}`);
  const gate = new RequestGate(
    [...opts.services.map((r) => r.service), Health, reflectionV1.ServerReflection, reflectionV1alpha.ServerReflection],
    auth,
    new PerPeerStreamCaps(cappedStreams, limits.maxStreamsPerPeer),
  );
  const shutdown = new AbortController();
  // Every open stream listens for shutdown: thousands of hives are expected, not a leak.
  setMaxListeners(0, shutdown.signal);
  const health = new HealthStatus();
  for (const { service } of opts.services) health.setStatus(service.typeName, ServingStatus.SERVING);
  const reflection = new ReflectionIndex([...opts.services.map((r) => r.service), Health, ...REFLECTION_SERVICES]);

  const adapterOptions = {
    readMaxBytes: opts.readMaxBytes ?? DEFAULT_READ_MAX_BYTES,
    shutdownSignal: shutdown.signal,
    interceptors: auth.enabled ? [auth.interceptor, ...(opts.interceptors ?? [])] : opts.interceptors,
    contextValues: auth.contextValues,
  };
  const rpcHandler = routeBinaryRequests(opts.binaryRoutes ?? [], adapterOptions, connectNodeAdapter({
    ...adapterOptions,
    routes(router) {
      for (const { service, impl } of opts.services) router.service(service, impl);
      router.service(Health, createHealthService(health));
      router.service(reflectionV1.ServerReflection, createReflectionV1(reflection));
      router.service(reflectionV1alpha.ServerReflection, createReflectionV1alpha(reflection));
    },
  }));

  const httpRoutes = opts.httpRoutes;
  const handler: typeof rpcHandler = httpRoutes ? (req, res) => void (httpRoutes(req, res as Parameters<HttpRouteHook>[1], auth) || rpcHandler(req, res)) : rpcHandler;

  const sessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<net.Socket>();
  const h2 = http2.createServer({ settings: { ...HTTP2_SETTINGS, maxConcurrentStreams: limits.maxStreamsPerConnection } }, handler);
  const openStreams = new Map<http2.Http2Session, number>();
  h2.on("session", (session) => {
    sessions.add(session);
    openStreams.set(session, 0);
    session.once("close", () => (sessions.delete(session), openStreams.delete(session)));
    // Fires after idleTimeoutMs without traffic; a quiet session that still has streams is not idle.
    session.setTimeout(idleTimeoutMs, () => {
      if ((openStreams.get(session) ?? 0) === 0) session.close();
    });
    if (shutdown.signal.aborted) session.close();
  });
  h2.on("sessionError", (err) => logger.debug({ err }, "http2 session error"));
  const streamSetup: Http2StreamSetup = {
    interceptors: adapterOptions.interceptors ?? [],
    contextValues: (stream) => auth.contextValues({ socket: stream.session?.socket } as http2.Http2ServerRequest),
    readMaxBytes: adapterOptions.readMaxBytes,
    shutdownSignal: shutdown.signal,
  };
  takeHttp2Streams(h2, (opts.http2Streams ?? []).map((make) => make(streamSetup)), hostCheck, gate, logger);
  h2.on("stream", (stream: http2.ServerHttp2Stream) => {
    const session = stream.session;
    if (!session || !openStreams.has(session)) return;
    openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
    stream.once("close", () => {
      if (openStreams.has(session)) openStreams.set(session, (openStreams.get(session) ?? 1) - 1);
    });
  });
  // http.Server tracks idle connections only when it listens itself; this one does not.
  const h1Busy = new Map<net.Socket, number>();
  const endIfIdle = (socket: net.Socket): void => {
    if (shutdown.signal.aborted && (h1Busy.get(socket) ?? 0) === 0) socket.end();
  };
  const h1 = http.createServer({
    headersTimeout: headersTimeoutMs,
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: 5_000,
    // How often node looks for requests past those timeouts.
    connectionsCheckingInterval: Math.min(30_000, Math.max(10, headersTimeoutMs / 4)),
  }, (req, res) => {
    const socket = req.socket;
    h1Busy.set(socket, (h1Busy.get(socket) ?? 0) + 1);
    if (shutdown.signal.aborted) res.setHeader("Connection", "close");
    const refusedHost = hostCheck?.(req.headers);
    res.once("close", () => {
      const busy = h1Busy.get(socket);
      if (busy === undefined) return;
      h1Busy.set(socket, busy - 1);
      endIfIdle(socket);
    });
    if (refusedHost !== undefined) {
      refuseHttp1(res, refusedHost, req.headers["content-type"]);
      return;
    }
    const decision = gate.check(pathOfUrl(req.url ?? ""), req.headers.authorization, socket);
    if (!decision.admitted) {
      refuseHttp1Request(res, decision.refusal, req.headers["content-type"]);
      return;
    }
    res.once("close", decision.release);
    handler(req, res);
  });
  // The timeouts above are enforced only once the server saw "listening"; this one never listens itself.
  h1.emit("listening");
  h1.on("clientError", (err, socket) => {
    logger.debug({ err }, "http/1.1 client error");
    socket.destroy();
  });

  const dispatch = (socket: net.Socket, protocol: "http2" | "http1"): void => {
    if (protocol === "http2") {
      h2.emit("connection", socket);
      return;
    }
    h1Busy.set(socket, 0);
    socket.once("close", () => h1Busy.delete(socket));
    h1.emit("connection", socket);
    socket.resume(); // the sniffer paused it; http.Server only attaches a "data" listener
  };
  const sniffThenDispatch = (socket: net.Socket): void =>
    sniffProtocol(socket, headersTimeoutMs, (protocol) => dispatch(socket, protocol));
  const track = (socket: net.Socket): boolean => {
    if (!connectionLimits.admit(socket)) return false;
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", (err) => logger.debug({ err }, "connection error"));
    return true;
  };

  let tcp: net.Server;
  if (loaded) {
    const secure = tls.createServer({
      ...loaded.options,
      ALPNProtocols: ["h2", "http/1.1"],
      requestCert: opts.tls?.clientCaFile !== undefined,
      // Verified below: a connection without a certificate may still carry a bearer token.
      rejectUnauthorized: false,
      handshakeTimeout: headersTimeoutMs,
    });
    secure.on("connection", track);
    secure.on("tlsClientError", (err) => logger.debug({ err: err.message }, "tls handshake failed"));
    secure.on("secureConnection", (socket: tls.TLSSocket) => {
      socket.on("error", (err) => logger.debug({ err }, "tls connection error"));
      if (!acceptPeerCertificate(socket, auth)) return;
      if (socket.alpnProtocol === "h2") dispatch(socket, "http2");
      else if (socket.alpnProtocol === "http/1.1") dispatch(socket, "http1");
      else sniffThenDispatch(socket);
    });
    tcp = secure;
  } else {
    tcp = net.createServer((socket) => {
      if (track(socket)) sniffThenDispatch(socket);
    });
  }

  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(opts.port, opts.host, () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  tcp.on("error", (err) => logger.error({ err }, "rpc server error"));
  const port = (tcp.address() as net.AddressInfo).port;
  const url = `${loaded ? "https" : "http"}://${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${port}`;
  logger.info({ url, services: reflection.serviceNames, tls: loaded !== undefined, auth: auth.enabled }, "rpc server listening");
  if (warning) logger.warn({ url }, warning);

  const reloadCredentials = (): ReloadResult => {
    try {
      let changed = false;
      if (opts.tls && loaded) {
        const next = loadServerTls(opts.tls);
        if (next.fingerprint !== loaded.fingerprint) {
          (tcp as tls.Server).setSecureContext(next.options);
          loaded = next;
          changed = true;
        }
      }
      if (opts.tokenFile && tokens) {
        changed = tokens.reload(opts.tokenFile) || changed;
      }
      if (changed) logger.info({ url }, "credentials reloaded; new connections use them");
      return { ok: true, changed };
    } catch (err) {
      const error = (err as Error).message;
      logger.error({ url, err: error }, "credentials not reloaded; keeping the previous ones");
      return { ok: false, changed: false, error };
    }
  };
  const credentialFiles = [opts.tls?.certFile, opts.tls?.keyFile, opts.tls?.clientCaFile, opts.tokenFile].filter((f): f is string => f !== undefined);
  const watcher = credentialFiles.length > 0 && opts.watchCredentials !== false ? new DirectoryWatcher(credentialFiles, reloadCredentials) : undefined;
  const onSighup = (): void => void reloadCredentials();
  if (credentialFiles.length > 0) process.on("SIGHUP", onSighup);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      logger.info({ url }, "rpc server shutting down");
      watcher?.close();
      process.off("SIGHUP", onSighup);
      health.shutdown();
      shutdown.abort(new ConnectError("server is shutting down", Code.Unavailable));
      const graceTimer = setTimeout(() => {
        if (sockets.size > 0) logger.warn({ connections: sockets.size }, "grace period over, closing connections");
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
      }, opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
      tcp.close(() => {
        clearTimeout(graceTimer);
        h1.close(); // stops its timeout checks
        logger.info({ url }, "rpc server closed");
        resolve();
      });
      for (const session of sessions) session.close();
      for (const socket of h1Busy.keys()) endIfIdle(socket);
    });
    return closing;
  };

  return { host: opts.host, port, url, tls: loaded !== undefined, health, auth, reloadCredentials, shutdownSignal: shutdown.signal, close };
}

/**
 * Puts the Host check, then the handlers, in front of the server's own "stream" listener (node's
 * compatibility layer, which feeds connect-node and the HTTP routes): every HTTP/2 request passes here.
 */
function takeHttp2Streams(h2: http2.Http2Server, handlers: Http2StreamHandler[], hostCheck: HostCheck | undefined, gate: RequestGate, logger: pino.Logger): void {
  const compat = h2.listeners("stream") as ((...args: unknown[]) => void)[];
  h2.removeAllListeners("stream");
  h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
    // A session that dies under its streams (a client's protocol error, many streams abandoned at
    // once) emits 'error' on each of them; one without a listener would end the process.
    stream.on("error", ignoreStreamError);
    const socket = stream.session?.socket;
    if (!socket || stream.destroyed) {
      stream.destroy();
      return;
    }
    const refusedHost = hostCheck?.(headers);
    if (refusedHost !== undefined) {
      refuseHttp2(stream, refusedHost, headers["content-type"]);
      return;
    }
    const decision = gate.check(pathOfUrl(String(headers[":path"] ?? "")), headers.authorization, socket as net.Socket);
    if (!decision.admitted) {
      refuseHttp2Stream(stream, decision.refusal, headers["content-type"]);
      return;
    }
    stream.once("close", decision.release);
    try {
      for (const handler of handlers) if (handler(stream, headers)) return;
    } catch (err) {
      // A defect in a handler costs its stream, never the process.
      logger.error({ err, path: headers[":path"] }, "http2 stream handler failed");
      stream.destroy();
      return;
    }
    for (const listener of compat) listener.call(h2, stream, headers, ...rest);
  });
}

function ignoreStreamError(): void {}

/**
 * A client certificate that failed verification (another CA, expired, not yet valid) ends the
 * connection right after the handshake; a verified one is remembered on the socket for the calls.
 */
function acceptPeerCertificate(socket: tls.TLSSocket, auth: Authenticator): boolean {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return true;
  if (!socket.authorized) {
    auth.recordDenial(socket.remoteAddress ?? "unknown", `client certificate rejected: ${String(socket.authorizationError)}`);
    socket.destroy();
    return false;
  }
  const peer: PeerCertificate = { identity: identityFromSans(cert.subjectaltname), uris: uriSans(cert.subjectaltname) };
  (socket as tls.TLSSocket & { [PEER_CERTIFICATE]?: PeerCertificate })[PEER_CERTIFICATE] = peer;
  return true;
}
