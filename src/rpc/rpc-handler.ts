import type * as http2 from "node:http2";
import type { Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import * as reflectionV1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as reflectionV1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { Authenticator } from "./auth/authenticator.js";
import { createHealthService, HealthStatus, ServingStatus } from "./health.js";
import { createReflectionV1, createReflectionV1alpha, REFLECTION_SERVICES } from "./reflection.js";
import { ReflectionIndex } from "./reflection-index.js";
import { TurnBudget } from "../common/turn-budget.js";
import { CallStartQueue } from "./call-start-queue.js";
import { binaryRouteOf, servesRaw, type BinaryRoute } from "./fast-path.js";
import { RAW_REQUESTS_PER_TURN, rawGrpcStreamHandler, type Http2StreamHandler, type Http2StreamSetup } from "./raw-grpc-stream.js";
import { DEFAULT_READ_MAX_BYTES, type HttpRouteHook, type RpcServerOptions } from "./server-options.js";

export type NodeHandler = ReturnType<typeof connectNodeAdapter>;

/** What answers the calls: connect-node's handler for every protocol, and the raw HTTP/2 stream handlers in front of it. */
export interface RpcHandlers {
  /** For HTTP/1.1 requests and HTTP/2 streams no raw handler took: HTTP routes first, then connect-node. */
  handler: NodeHandler;
  /** Takes an HTTP/2 stream (true) before connect-node would see it. */
  takeHttp2Stream: Http2StreamHandler;
  health: HealthStatus;
  serviceNames: readonly string[];
}

/**
 * The handler side of a server: the services, grpc.health.v1 and reflection on connect-node, the
 * server's interceptors (authorisation first when enabled), and each fast path on connect-node's
 * binary path and on raw HTTP/2 gRPC streams.
 */
export function assembleRpcHandlers(opts: RpcServerOptions, auth: Authenticator, shutdownSignal: AbortSignal): RpcHandlers {
  const starts = new CallStartQueue((err) => opts.logger.error({ err }, "rpc call failed to start"));
  const fastPaths = opts.fastPaths ?? [];
  const health = new HealthStatus();
  for (const { service } of opts.services) health.setStatus(service.typeName, ServingStatus.SERVING);
  const reflection = new ReflectionIndex([...opts.services.map((r) => r.service), Health, ...REFLECTION_SERVICES]);
  const adapterOptions = {
    readMaxBytes: opts.readMaxBytes ?? DEFAULT_READ_MAX_BYTES,
    shutdownSignal,
    interceptors: auth.enabled ? [auth.interceptor, ...(opts.interceptors ?? [])] : (opts.interceptors ?? []),
    contextValues: auth.contextValues,
  };
  const rpcHandler = routeBinaryRequests(fastPaths.map(binaryRouteOf), adapterOptions, connectNodeAdapter({
    ...adapterOptions,
    routes(router) {
      for (const { service, impl } of opts.services) router.service(service, impl);
      router.service(Health, createHealthService(health));
      router.service(reflectionV1.ServerReflection, createReflectionV1(reflection));
      router.service(reflectionV1alpha.ServerReflection, createReflectionV1alpha(reflection));
    },
  }));
  const httpRoutes = opts.httpRoutes;
  const routed: NodeHandler = httpRoutes ? (req, res) => void (httpRoutes(req, res as Parameters<HttpRouteHook>[1], auth) || rpcHandler(req, res)) : rpcHandler;
  const handler = startInTurn(routed, starts);
  const streamSetup: Http2StreamSetup = {
    interceptors: adapterOptions.interceptors,
    contextValues: (stream) => auth.contextValues({ socket: stream.session?.socket, stream } as http2.Http2ServerRequest),
    readMaxBytes: adapterOptions.readMaxBytes,
    shutdownSignal,
    starts,
    requestsPerTurn: new TurnBudget(RAW_REQUESTS_PER_TURN),
  };
  const streamHandlers = fastPaths.filter((p) => servesRaw(opts.rawFastPaths, p)).map((p) => rawGrpcStreamHandler(p, streamSetup));
  const takeHttp2Stream: Http2StreamHandler = (stream, headers) => {
    for (const take of streamHandlers) if (take(stream, headers)) return true;
    return false;
  };
  return { handler, takeHttp2Stream, health, serviceNames: reflection.serviceNames };
}

// Content types whose messages are protobuf binary: gRPC (default codec proto), gRPC-Web, Connect.
const BINARY_CONTENT_TYPE = /^application\/(?:grpc(?:-web(?:-text)?)?(?:\+proto)?|connect\+proto|proto)\s*(?:;|$)/i;

interface AdapterOptions {
  readMaxBytes: number;
  shutdownSignal: AbortSignal;
  interceptors: Interceptor[];
  contextValues: Parameters<typeof connectNodeAdapter>[0]["contextValues"];
}

/** Sends binary requests for the routes' paths to an adapter of their own, everything else to `fallback`. */
function routeBinaryRequests(routes: BinaryRoute[], options: AdapterOptions, fallback: NodeHandler): NodeHandler {
  if (routes.length === 0) return fallback;
  const paths = new Set(routes.flatMap((r) => r.service.methods.map((m) => `/${m.parent.typeName}/${m.name}`)));
  const binary = connectNodeAdapter({
    ...options,
    interceptors: [...routes.flatMap((r) => r.interceptors ?? []), ...options.interceptors],
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
 * Node's compatibility layer has its listeners on the request already (no event is missed); only
 * connect-node's handler and the HTTP routes wait for their turn, and a request whose stream or
 * socket is gone by then never reaches them.
 */
function startInTurn(handler: NodeHandler, starts: CallStartQueue): NodeHandler {
  return (req, res) => {
    const gone =
      "stream" in req
        ? () => req.stream.destroyed || req.stream.closed
        : () => req.socket.destroyed || res.destroyed;
    starts.enqueue(() => handler(req, res), gone);
  };
}
