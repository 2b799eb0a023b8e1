import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { Interceptor, ServiceImpl } from "@connectrpc/connect";
import type { pino } from "pino";
import type { Authenticator } from "./auth/authenticator.js";
import type { HeaderCheck } from "./admission/header-check.js";
import type { FastPath, RawFastPaths } from "./fast-path.js";
import type { Permission } from "./auth/policy.js";
import type { HealthStatus } from "./health.js";
import type { ServerLimits } from "./server-limits.js";
import type { ServerTlsFiles } from "./tls/server-credentials.js";

export type { ServerTlsFiles } from "./tls/server-credentials.js";

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
   * Streaming methods with a request decoder of their own (fast-path.ts), installed on raw HTTP/2
   * gRPC streams and on connect-node's binary path; they must also be served by `services` (JSON).
   */
  fastPaths?: FastPath<any, any>[];
  /** Which fast paths take raw HTTP/2 gRPC streams (default all); false sends those through connect-node (the bench's A/B). */
  rawFastPaths?: RawFastPaths;
  /** Long-lived streaming methods capped per peer address (limits.maxStreamsPerPeer); Health.Watch always is. */
  perPeerStreamMethods?: DescMethod[];
  /** The permission each method needs (default: policy.ts's requiredPermission). */
  permissionOf?: (serviceTypeName: string, methodName: string) => Permission;
  /**
   * The owner's own decision from each RPC's headers, before any body byte is read (after
   * authentication; admission/header-check.ts), e.g. the hive's local credential for its writes.
   */
  headerCheck?: HeaderCheck;
}

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
