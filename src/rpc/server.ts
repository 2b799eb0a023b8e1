import { setMaxListeners } from "node:events";
import { Code, ConnectError } from "@connectrpc/connect";
import { startCredentialReload } from "./credential-reload.js";
import { startListener } from "./listener.js";
import { assembleRpcHandlers } from "./rpc-handler.js";
import { createServerAdmission } from "./server-admission.js";
import {
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  type RpcServer,
  type RpcServerOptions,
} from "./server-options.js";
import { checkListenSecurity } from "./tls/listen-safety.js";
import { loadServerTls } from "./tls/server-credentials.js";

export * from "./server-options.js";

/** An AbortSignal that fires when either the call's signal or the server's shutdown does. */
export function abortOnShutdown(ctxSignal: AbortSignal, server: Pick<RpcServer, "shutdownSignal">): AbortSignal {
  return AbortSignal.any([ctxSignal, server.shutdownSignal]);
}

/**
 * Serves the given services, plus grpc.health.v1 and server reflection (v1 and v1alpha),
 * on one TCP port: gRPC over HTTP/2 (h2c, or h2 by ALPN with TLS), and Connect, gRPC-Web and
 * gRPC over HTTP/1.1. With a client CA or a token file every call is authenticated and
 * authorised (src/rpc/auth/policy.ts). The parts: admission (server-admission.ts), handlers
 * (rpc-handler.ts), the listener (listener.ts) and credential reload (credential-reload.ts).
 */
export async function startRpcServer(opts: RpcServerOptions): Promise<RpcServer> {
  const { logger } = opts;
  const warning = checkListenSecurity({
    host: opts.host,
    tls: opts.tls !== undefined,
    clientAuth: opts.tls?.clientCaFile !== undefined || opts.tokenFile !== undefined,
    insecure: opts.insecure === true,
  });
  const loaded = opts.tls ? loadServerTls(opts.tls) : undefined;
  const admission = createServerAdmission(opts, logger);
  const shutdown = new AbortController();
  // Every open stream listens for shutdown: thousands of hives are expected, not a leak.
  setMaxListeners(0, shutdown.signal);
  const handlers = assembleRpcHandlers(opts, admission.auth, shutdown.signal);
  const headersTimeoutMs = opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const listener = await startListener({
    host: opts.host,
    port: opts.port,
    logger,
    tls: loaded && { options: loaded.options, requestCert: opts.tls?.clientCaFile !== undefined },
    headersTimeoutMs,
    requestTimeoutMs: Math.max(opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, headersTimeoutMs),
    idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    maxStreamsPerConnection: admission.limits.maxStreamsPerConnection,
    shutdownSignal: shutdown.signal,
    admitConnection: admission.admitConnection,
    acceptTlsSocket: admission.acceptPeerCertificate,
    admitHttp1: admission.admitHttp1,
    takeHttp2Stream: (stream, headers, socket) => !admission.admitHttp2(stream, headers, socket) || handlers.takeHttp2Stream(stream, headers),
    handler: handlers.handler,
  });
  const { url, port } = listener;
  logger.info({ url, services: handlers.serviceNames, tls: loaded !== undefined, auth: admission.auth.enabled }, "rpc server listening");
  if (warning) logger.warn({ url }, warning);
  const credentials = startCredentialReload({ security: opts, loaded, tokens: admission.tokens, setSecureContext: listener.setSecureContext, logger, url });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      logger.info({ url }, "rpc server shutting down");
      credentials.close();
      handlers.health.shutdown();
      shutdown.abort(new ConnectError("server is shutting down", Code.Unavailable));
      await listener.close(opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
      logger.info({ url }, "rpc server closed");
    })();
    return closing;
  };

  return {
    host: opts.host,
    port,
    url,
    tls: loaded !== undefined,
    health: handlers.health,
    auth: admission.auth,
    reloadCredentials: credentials.reload,
    shutdownSignal: shutdown.signal,
    close,
  };
}
