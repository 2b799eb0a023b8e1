import { setMaxListeners } from "node:events";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { allowEveryone, combineHttpRoutes, createHttpRoutes, type HttpRouteHandler } from "../rpc/http-routes.js";
import { createLogger } from "../common/logger.js";
import { metricsRoute } from "../rpc/metrics/metrics-route.js";
import { heartbeatHelloCheck, queenPermissionOf } from "./queen-permissions.js";
import { startRpcServer, type RpcServer, type ServerSecurity } from "../rpc/server.js";
import { unexpectedErrorInterceptor } from "../rpc/unexpected-error-interceptor.js";
import { LivenessClock, systemClock, type Clock } from "../common/clock.js";
import type { ClusterStore } from "./cluster/cluster-store.js";
import { ClusterUnavailableError, type HiveClaims } from "./registry/hive-claims.js";
import { ClusterNode } from "./cluster/cluster-node.js";
import { PeerPublisher } from "./cluster/peer-publisher.js";
import { createQueenPeerService, DEFAULT_PEER_FLUSH_INTERVAL_MS } from "./cluster/peer-service.js";
import { QueenPeerService } from "../../gen/apiary/v1/queen_peer_pb.js";
import { createApiaryTransport, type ClientCredentials } from "../rpc/transport.js";
import { HiveSessions } from "./ingest/hive-sessions.js";
import { heartbeatFastPath } from "./ingest/heartbeat-route.js";
import { watchFastPath } from "./watch/watch-route.js";
import type { RawFastPaths } from "../rpc/fast-path.js";
import { LivenessSweeper } from "./registry/liveness-sweeper.js";
import { MemoryRegistry } from "./registry/memory-registry.js";
import { QueenMetrics } from "./metrics/queen-metrics.js";
import { ObjectEvents } from "./registry/object-events.js";
import { resolveQueenConfig, type QueenConfig } from "./queen-config.js";
import { createQueenService } from "./queen-service.js";
import type { RegistryWriter } from "./registry/registry.js";
import { WatchHub } from "./watch/watch-hub.js";

export const DEFAULT_QUEEN_HOST = "127.0.0.1";
export const DEFAULT_QUEEN_PORT = 7833;
export const DEFAULT_LEASE_TTL_MS = 10_000;

export interface StartQueenOptions extends Partial<QueenConfig> {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 7833; 0 picks a free port. */
  port?: number;
  logger?: Logger;
  /** Time source (tests); default the system's monotonic and wall clocks. */
  clock?: Clock;
  /** How long close() lets open calls finish. Default: the RPC server's (5 s). */
  shutdownGraceMs?: number;
  /** Re-export every hive's per-GPU and per-worker series on /metrics; default false. */
  perDeviceMetrics?: boolean;
  /** TLS, client CA, token file, --insecure. */
  security?: ServerSecurity;
  /**
   * Several queens: the cluster store they share (etcd, or a MemoryClusterStore in tests). Absent:
   * a single queen, exactly as before.
   */
  clusterStore?: ClusterStore;
  /** This queen's id in the cluster; default hostname-port. */
  queenId?: string;
  /** Where the other queens reach this one; default the listen URL. */
  advertiseUrl?: string;
  /** TTL of the queen's cluster lease; default 10 s. */
  leaseTtlMs?: number;
  /** Flush interval this queen asks of the queens it follows (FollowHeldHives); default 250 ms. */
  peerFlushIntervalMs?: number;
  /** CA, client certificate and key (or token) for calls to the other queens, when they serve TLS. */
  peerCredentials?: ClientCredentials;
  /** Static pages anyone may GET beside /metrics (the dashboard); they must carry no data. Default none. */
  publicRoutes?: Record<string, HttpRouteHandler>;
  /** Which fast paths (Heartbeat, Watch) take raw HTTP/2 gRPC streams; default all. For the bench's A/B runs. */
  rawFastPaths?: RawFastPaths;
}

export interface Queen {
  readonly server: RpcServer;
  readonly registry: RegistryWriter;
  readonly hub: WatchHub;
  readonly sweeper: LivenessSweeper;
  readonly config: QueenConfig;
  /** Served at /metrics on the queen's port. */
  readonly metrics: QueenMetrics;
  /** http://host:port */
  readonly url: string;
  /** This process's revision space (WatchResponse.epoch). */
  readonly epoch: string;
  /** Its part in a cluster of queens; absent for a single queen. */
  readonly cluster?: ClusterNode;
  /** Stops the sweeper, ends every watch and heartbeat with UNAVAILABLE, closes the server. Idempotent. */
  close(): Promise<void>;
}

/** Starts a queen: registry, liveness sweeper, watch hub and the QueenService on one port. */
export async function startQueen(options: StartQueenOptions = {}): Promise<Queen> {
  const {
    host = DEFAULT_QUEEN_HOST,
    port = DEFAULT_QUEEN_PORT,
    logger = createLogger("queen"),
    clock = systemClock,
    shutdownGraceMs,
    perDeviceMetrics,
    security,
    clusterStore,
    queenId,
    advertiseUrl,
    leaseTtlMs,
    peerFlushIntervalMs,
    peerCredentials,
    rawFastPaths,
    ...rest
  } = options;
  const config = resolveQueenConfig(rest);
  const liveness = new LivenessClock(clock);
  const registry = new MemoryRegistry({
    shards: config.shards,
    historySize: config.historySize,
    endedWorkerRetentionMs: config.endedWorkerRetentionMs,
    clock: liveness,
    logger,
  });
  const hub = new WatchHub(registry, config.watcherMaxPending);
  let cluster: ClusterNode | undefined;
  const metrics = new QueenMetrics({ registry, hub, liveness, perDeviceSeries: perDeviceMetrics, cluster: clusterStore && (() => cluster) });
  const sweeper = new LivenessSweeper(registry, liveness, { ...config, onSweep: (ms) => metrics.observeSweep(ms) }, logger);
  const events = new ObjectEvents(registry, clock);
  const stopping = new AbortController();
  setMaxListeners(0, stopping.signal); // one listener per open heartbeat and watch stream
  const sessions = new HiveSessions();
  const peerPublisher = new PeerPublisher(registry);
  // The queen id needs the port, known once listening: until then no hive can have said hello.
  const claims: HiveClaims | undefined = clusterStore && {
    get queenId() {
      return cluster?.queenId ?? "";
    },
    claim: async (info, incarnation) => {
      if (!cluster) throw new ClusterUnavailableError("this queen is still joining its cluster");
      return cluster.claim(info, incarnation);
    },
  };
  const service = createQueenService({
    registry,
    hub,
    sessions,
    claims,
    clock,
    logger,
    shutdownSignal: stopping.signal,
    reportIntervalMs: config.reportIntervalMs,
    bookmarkIntervalMs: config.bookmarkIntervalMs,
    minBookmarkIntervalMs: config.minBookmarkIntervalMs,
    events,
  });
  // Workers keep their wire bytes for Watch only while someone watches.
  const watched = () => hub.watcherCount > 0;
  const server = await startRpcServer({
    host,
    port,
    logger,
    services: [
      { service: QueenService, impl: service },
      ...(clusterStore
        ? [
            {
              service: QueenPeerService,
              impl: createQueenPeerService({
                registry,
                queenId: () => cluster?.queenId,
                holds: (hiveId) => cluster?.ownership.holds(hiveId) ?? false,
                shutdownSignal: stopping.signal,
                logger,
              }, peerPublisher),
            },
          ]
        : []),
    ],
    fastPaths: [heartbeatFastPath(service.heartbeat, watched), watchFastPath(service.watch)],
    rawFastPaths,
    perPeerStreamMethods: [QueenService.method.watch],
    readMaxBytes: config.maxMessageBytes,
    shutdownGraceMs,
    ...security,
    permissionOf: queenPermissionOf,
    interceptors: [heartbeatHelloCheck(logger), ...metrics.interceptors, unexpectedErrorInterceptor(logger)],
    httpRoutes: combineHttpRoutes(
      createHttpRoutes({ routes: { "/metrics": metricsRoute(metrics.registry) } }),
      createHttpRoutes({ routes: options.publicRoutes ?? {}, authorize: allowEveryone, onError: (err, path) => logger.error({ err, path }, "public route failed") }),
    ),
  });
  server.shutdownSignal.addEventListener("abort", () => stopping.abort(), { once: true });
  if (clusterStore) {
    cluster = new ClusterNode(
      {
        store: clusterStore,
        queenId: queenId ?? `${hostname()}-${server.port}`,
        registry,
        sessions,
        clock,
        logger,
        leaseTtlMs: leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
        degradedMs: config.degradedMs,
        evictAfterMs: config.evictAfterMs,
        sweepIntervalMs: config.sweepIntervalMs,
        peerTransport: (url) => createApiaryTransport(url, { credentials: { ...peerCredentials, expectServer: { kind: "queen" } } }),
        peerFlushIntervalMs: peerFlushIntervalMs ?? DEFAULT_PEER_FLUSH_INTERVAL_MS,
        peerPublisher,
      },
      { advertiseUrl: advertiseUrl ?? defaultAdvertiseUrl(server), epoch: registry.epoch, startedAtWallMs: clock.wallMs() },
    );
    await cluster.start(server.health);
  }
  sweeper.start();
  logger.info({ url: server.url, epoch: registry.epoch, shards: config.shards, queenId: cluster?.queenId }, "queen listening");

  let closing: Promise<void> | undefined;
  return {
    server,
    registry,
    hub,
    sweeper,
    config,
    metrics,
    url: server.url,
    epoch: registry.epoch,
    cluster,
    close() {
      closing ??= (async () => {
        // First the cluster: no membership writes for the streams about to end; the lease is revoked.
        await cluster?.close();
        stopping.abort();
        await sweeper.stop();
        hub.closeAll();
        await server.close();
        metrics.close();
        logger.info("queen stopped");
      })();
      return closing;
    },
  };
}

/** The listen URL, with the host name instead of a wildcard address (0.0.0.0, ::) no peer can dial. */
function defaultAdvertiseUrl(server: RpcServer): string {
  if (server.host !== "0.0.0.0" && server.host !== "::" && server.host !== "") return server.url;
  return `${server.tls ? "https" : "http"}://${hostname()}:${server.port}`;
}
