import { setMaxListeners } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { pino } from "pino";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { HealthStatus, ServingStatus, createHealthService } from "./health.js";
import { sniffProtocol } from "./protocol-sniffer.js";
import { REFLECTION_SERVICES, createReflectionV1, createReflectionV1alpha } from "./reflection.js";
import { ReflectionIndex } from "./reflection-index.js";
import * as reflectionV1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as reflectionV1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

export interface ServiceRegistration {
  service: DescService;
  impl: Partial<ServiceImpl<any>> | ServiceImpl<any>;
}

export interface RpcServerOptions {
  host: string;
  /** 0 picks a free port; the server's `port` tells which. */
  port: number;
  logger: pino.Logger;
  services: ServiceRegistration[];
  /** Largest request message accepted; bigger ones fail with RESOURCE_EXHAUSTED. Default 4 MiB. */
  readMaxBytes?: number;
  /** How long close() lets open calls finish before cutting connections. Default 5 s. */
  shutdownGraceMs?: number;
  interceptors?: Interceptor[];
  /**
   * Consulted before the RPC handler for every HTTP request (HTTP/1.1 and HTTP/2): returns true
   * when it answered the request itself (plain HTTP routes such as /metrics on the same port).
   */
  httpRoutes?: HttpRouteHook;
}

export type HttpRouteHook = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => boolean;

export interface RpcServer {
  readonly host: string;
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  readonly health: HealthStatus;
  /** Aborted (with a ConnectError UNAVAILABLE as reason) as soon as close() starts. */
  readonly shutdownSignal: AbortSignal;
  /** Graceful stop; idempotent, every call returns the same promise. */
  close(): Promise<void>;
}

export const DEFAULT_READ_MAX_BYTES = 4 * 1024 * 1024;
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;
const PROTOCOL_SNIFF_TIMEOUT_MS = 10_000;

const HTTP2_SETTINGS: http2.Settings = {
  maxConcurrentStreams: 1000,
  initialWindowSize: 1024 * 1024,
  maxHeaderListSize: 64 * 1024,
};

/** An AbortSignal that fires when either the call's signal or the server's shutdown does. */
export function abortOnShutdown(ctxSignal: AbortSignal, server: Pick<RpcServer, "shutdownSignal">): AbortSignal {
  return AbortSignal.any([ctxSignal, server.shutdownSignal]);
}

/**
 * Serves the given services, plus grpc.health.v1 and server reflection (v1 and v1alpha),
 * on one TCP port: gRPC over HTTP/2 prior knowledge (h2c), and Connect, gRPC-Web and
 * gRPC over HTTP/1.1.
 */
export async function startRpcServer(opts: RpcServerOptions): Promise<RpcServer> {
  const { logger } = opts;
  const shutdown = new AbortController();
  // Every open stream listens for shutdown: thousands of hives are expected, not a leak.
  setMaxListeners(0, shutdown.signal);
  const health = new HealthStatus();
  for (const { service } of opts.services) health.setStatus(service.typeName, ServingStatus.SERVING);
  const reflection = new ReflectionIndex([...opts.services.map((r) => r.service), Health, ...REFLECTION_SERVICES]);

  const rpcHandler = connectNodeAdapter({
    readMaxBytes: opts.readMaxBytes ?? DEFAULT_READ_MAX_BYTES,
    shutdownSignal: shutdown.signal,
    interceptors: opts.interceptors,
    routes(router) {
      for (const { service, impl } of opts.services) router.service(service, impl);
      router.service(Health, createHealthService(health));
      router.service(reflectionV1.ServerReflection, createReflectionV1(reflection));
      router.service(reflectionV1alpha.ServerReflection, createReflectionV1alpha(reflection));
    },
  });

  const httpRoutes = opts.httpRoutes;
  const handler: typeof rpcHandler = httpRoutes ? (req, res) => void (httpRoutes(req, res as Parameters<HttpRouteHook>[1]) || rpcHandler(req, res)) : rpcHandler;

  const sessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<net.Socket>();
  const h2 = http2.createServer({ settings: HTTP2_SETTINGS }, handler);
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (shutdown.signal.aborted) session.close();
  });
  h2.on("sessionError", (err) => logger.debug({ err }, "http2 session error"));
  // http.Server tracks idle connections only when it listens itself; this one does not.
  const h1Busy = new Map<net.Socket, number>();
  const endIfIdle = (socket: net.Socket): void => {
    if (shutdown.signal.aborted && (h1Busy.get(socket) ?? 0) === 0) socket.end();
  };
  const h1 = http.createServer({ requestTimeout: 0, keepAliveTimeout: 5_000 }, (req, res) => {
    const socket = req.socket;
    h1Busy.set(socket, (h1Busy.get(socket) ?? 0) + 1);
    if (shutdown.signal.aborted) res.setHeader("Connection", "close");
    res.once("close", () => {
      const busy = h1Busy.get(socket);
      if (busy === undefined) return;
      h1Busy.set(socket, busy - 1);
      endIfIdle(socket);
    });
    handler(req, res);
  });
  h1.on("clientError", (err, socket) => {
    logger.debug({ err }, "http/1.1 client error");
    socket.destroy();
  });

  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", (err) => logger.debug({ err }, "connection error"));
    sniffProtocol(socket, PROTOCOL_SNIFF_TIMEOUT_MS, (protocol) => {
      if (protocol === "http2") {
        h2.emit("connection", socket);
      } else {
        h1Busy.set(socket, 0);
        socket.once("close", () => h1Busy.delete(socket));
        h1.emit("connection", socket);
        socket.resume(); // the sniffer paused it; http.Server only attaches a "data" listener
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(opts.port, opts.host, () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  tcp.on("error", (err) => logger.error({ err }, "rpc server error"));
  const port = (tcp.address() as net.AddressInfo).port;
  const url = `http://${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${port}`;
  logger.info({ url, services: reflection.serviceNames }, "rpc server listening");

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      logger.info({ url }, "rpc server shutting down");
      health.shutdown();
      shutdown.abort(new ConnectError("server is shutting down", Code.Unavailable));
      const graceTimer = setTimeout(() => {
        if (sockets.size > 0) logger.warn({ connections: sockets.size }, "grace period over, closing connections");
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
      }, opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
      tcp.close(() => {
        clearTimeout(graceTimer);
        logger.info({ url }, "rpc server closed");
        resolve();
      });
      for (const session of sessions) session.close();
      for (const socket of h1Busy.keys()) endIfIdle(socket);
    });
    return closing;
  };

  return { host: opts.host, port, url, health, shutdownSignal: shutdown.signal, close };
}
