import type { Logger } from "pino";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import type { HiveInfo, WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { newLocalToken, writeLocalCredential, type LocalCredential } from "../rpc/auth/local-credential.js";
import { plainFastPath } from "../rpc/fast-path.js";
import { createHttpRoutes } from "../rpc/http-routes.js";
import { metricsRoute } from "../rpc/metrics/metrics-route.js";
import { rpcMetricsInterceptor } from "../rpc/metrics/rpc-metrics.js";
import { startRpcServer, type RpcServer } from "../rpc/server.js";
import { unexpectedErrorInterceptor } from "../rpc/unexpected-error-interceptor.js";
import type { ResolvedHiveConfig } from "./hive-config.js";
import type { HiveParts } from "./hive-parts.js";
import { createHiveService } from "./hive-service.js";
import { hivePermissionOf } from "./hive-permissions.js";
import { localCredentialCheck } from "./local-credential-guard.js";
import { WriteAudit } from "./write-audit.js";

/** What the HiveService needs that exists only once the server listens or the hive stops. */
export interface HiveServerHooks {
  /** The hive's info; asked only after the server started. */
  info: () => HiveInfo;
  shutdownSignal: AbortSignal;
  /** StopWorker's wait until the worker's end is reported. */
  reportEnded: (worker: WorkerTelemetry) => Promise<void>;
}

export interface HiveServer {
  server: RpcServer;
  /** The local credential file, when the hive authenticates no client. */
  localCredential: LocalCredential | undefined;
}

/** Starts the HiveService with /metrics on the hive's port; without client authentication its writes need the local credential written here. */
export async function startHiveServer(resolved: ResolvedHiveConfig, logger: Logger, parts: HiveParts, hooks: HiveServerHooks): Promise<HiveServer> {
  const { supervisor, monitor, metrics, logCheckpoints } = parts;
  const audit = new WriteAudit(logger.child({ component: "audit" }));
  // Without client authentication, loopback is still no trust boundary: writes need the local credential.
  const sec = resolved.security;
  const localToken = sec.tls?.clientCaFile === undefined && sec.tokenFile === undefined ? newLocalToken() : undefined;
  let localCredential: LocalCredential | undefined;
  const impl = createHiveService({
    workers: supervisor,
    reports: monitor,
    info: hooks.info,
    shutdownSignal: hooks.shutdownSignal,
    reportEnded: hooks.reportEnded,
    audit,
    logs: { logPathOf: (id) => supervisor.logPathOf(id), isActive: (id) => supervisor.isActive(id), checkpoints: logCheckpoints },
  });
  const server = await startRpcServer({
    host: resolved.host,
    port: resolved.port,
    logger,
    ...resolved.security,
    interceptors: [rpcMetricsInterceptor(metrics.registry), unexpectedErrorInterceptor(logger)],
    // Decided from the headers, before any body is read (the gate, src/rpc/admission/header-check.ts).
    ...(localToken ? { headerCheck: localCredentialCheck(() => localCredential?.file, audit) } : {}),
    httpRoutes: createHttpRoutes({ routes: { "/metrics": metricsRoute(metrics.registry) } }),
    perPeerStreamMethods: [HiveService.method.streamWorkerLogs],
    permissionOf: hivePermissionOf,
    services: [{ service: HiveService, impl }],
    // The streaming methods on raw HTTP/2 streams too: one reset before its call starts costs nothing (rapid reset).
    fastPaths: [plainFastPath(HiveService.method.streamWorkerLogs, impl.streamWorkerLogs), plainFastPath(HiveService.method.watchTelemetry, impl.watchTelemetry)],
  });
  server.auth.onRefusal(audit.refused);
  if (localToken) {
    localCredential = await Promise.resolve()
      .then(() => writeLocalCredential(server.port, localToken))
      .catch(async (err: Error) => {
        await server.close();
        throw new Error(`local credential: ${err.message}`);
      });
  }
  return { server, localCredential };
}
