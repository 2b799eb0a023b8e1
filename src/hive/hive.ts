import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import type { HiveInfo, WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { createHttpRoutes } from "../rpc/http-routes.js";
import { createLogger } from "../common/logger.js";
import { metricsRoute } from "../rpc/metrics/metrics-route.js";
import { rpcMetricsInterceptor } from "../rpc/metrics/rpc-metrics.js";
import { startRpcServer, type RpcServer } from "../rpc/server.js";
import { unexpectedErrorInterceptor } from "../rpc/unexpected-error-interceptor.js";
import { createApiaryTransport } from "../rpc/transport.js";
import { EngineScraper } from "./engine/engine-scraper.js";
import { ENGINE_WORKER_SERIES } from "./engine/engine-series.js";
import { GpuProbe } from "./gpu/gpu-probe.js";
import { XidMonitor } from "./kmsg/xid-monitor.js";
import { HeartbeatClient } from "./heartbeat-client.js";
import { QueenTargets } from "./queen-targets.js";
import { advertisedEndpoint, resolveHiveConfig, type HiveConfig, type ResolvedHiveConfig } from "./hive-config.js";
import { buildHiveInfo, newIncarnation } from "./hive-info.js";
import { createHiveService } from "./hive-service.js";
import { HiveMetrics } from "./metrics/hive-metrics.js";
import { Monitor } from "./monitor.js";
import { WorkerSupervisor } from "./workers/worker-supervisor.js";
import { LogCheckpoints } from "./worker-logs/log-checkpoints.js";
import { ProgramAllowList } from "./workers/program-allow-list.js";
import { EnvAllowList } from "./workers/worker-env.js";
import { newLocalToken, writeLocalCredential, type LocalCredential } from "../rpc/auth/local-credential.js";
import { localCredentialGuard } from "./local-credential-guard.js";
import { WriteAudit } from "./write-audit.js";

export interface HiveCloseOptions {
  /** Also stop every worker (SIGTERM, then SIGKILL after their grace); default false: workers outlive the hive and are re-adopted. */
  stopWorkers?: boolean;
  /** Why the hive leaves, sent in its Goodbye. */
  reason?: string;
}

export interface Hive {
  server: RpcServer;
  /** Where the HiveService listens, e.g. "http://127.0.0.1:7835". */
  url: string;
  config: ResolvedHiveConfig;
  info: HiveInfo;
  incarnation: string;
  supervisor: WorkerSupervisor;
  gpuProbe: GpuProbe;
  monitor: Monitor;
  /** Served at /metrics on the hive's port. */
  metrics: HiveMetrics;
  /** Undefined when the hive runs without a queen. */
  heartbeat: HeartbeatClient | undefined;
  /** Ids of the workers an earlier hive process left running, re-adopted at start. */
  readopted: string[];
  /** Goodbye to the queen, stop the monitor, close the server, then the supervisor. Idempotent. */
  close(options?: HiveCloseOptions): Promise<void>;
}

/** Starts a hive: worker supervisor, GPU probe, tick monitor, HiveService and, with a queen URL, the heartbeat. */
export async function startHive(config: HiveConfig = {}): Promise<Hive> {
  const resolved = resolveHiveConfig(config);
  const logger = resolved.logger ?? createLogger("hive");
  const supervisor = new WorkerSupervisor({
    stateDir: resolved.stateDir,
    cgroupRoot: resolved.cgroupRoot,
    cgroupMode: resolved.cgroupMode,
    cgroupParent: resolved.cgroupParent,
    logRetention: { maxAgeMs: resolved.workerLogRetentionMs, maxFiles: resolved.workerLogMaxFiles },
    logger: logger.child({ component: "workers" }),
    allowEnv: new EnvAllowList(resolved.allowEnv),
    ...(resolved.allowPrograms.length > 0 ? { programs: new ProgramAllowList(resolved.allowPrograms) } : {}),
  });
  await supervisor.init();
  const metrics = new HiveMetrics({ hiveId: resolved.hiveId, extraWorkerSeries: ENGINE_WORKER_SERIES });
  const xids = resolved.gpuEnabled
    ? new XidMonitor({ path: resolved.kmsgPath, holdMs: resolved.gpuXidHoldMs, logger: logger.child({ component: "kmsg" }) })
    : undefined;
  const gpuProbe = new GpuProbe({
    ...(xids ? { xids } : {}),
    ignoreXids: new Set(resolved.gpuHealthIgnoreXids),
    observer: metrics.gpuProbeObserver,
    nvidiaSmiPath: resolved.nvidiaSmiPath,
    deadlineMs: resolved.gpuDeadlineMs,
    enabled: resolved.gpuEnabled,
    logger: logger.child({ component: "gpu" }),
  });
  const engineScraper = new EngineScraper({
    targets: () => supervisor.engineTargets(),
    deadlineMs: resolved.engineScrapeDeadlineMs,
    maxBytes: resolved.engineScrapeMaxBytes,
  });
  const monitor = new Monitor({
    sampler: supervisor,
    engine: engineScraper,
    gpu: gpuProbe,
    intervalMs: resolved.tickIntervalMs,
    probeDeadlineMs: resolved.gpuDeadlineMs,
    holdEndedUntilDelivered: resolved.queenUrl !== undefined,
    logger: logger.child({ component: "monitor" }),
  });
  monitor.subscribe((report) => metrics.observeReport(report));

  const logCheckpoints = new LogCheckpoints();
  monitor.subscribe((report) => logCheckpoints.observe(report.workers.map((w) => w.logPath)));

  const shutdown = new AbortController();
  let info: HiveInfo | undefined;
  let server: RpcServer;
  const audit = new WriteAudit(logger.child({ component: "audit" }));
  // Without client authentication, loopback is still no trust boundary: writes need the local credential.
  const sec = resolved.security;
  const localToken = sec.tls?.clientCaFile === undefined && sec.tokenFile === undefined ? newLocalToken() : undefined;
  let localCredential: LocalCredential | undefined;
  try {
    server = await startRpcServer({
      host: resolved.host,
      port: resolved.port,
      logger,
      ...resolved.security,
      interceptors: [
        ...(localToken ? [localCredentialGuard(localToken, () => localCredential?.file ?? "the hive's local credential file", audit)] : []),
        rpcMetricsInterceptor(metrics.registry),
        unexpectedErrorInterceptor(logger),
      ],
      httpRoutes: createHttpRoutes({ routes: { "/metrics": metricsRoute(metrics.registry) } }),
      perPeerStreamMethods: [HiveService.method.streamWorkerLogs],
      services: [
        {
          service: HiveService,
          impl: createHiveService({
            workers: supervisor,
            reports: monitor,
            info: () => info as HiveInfo,
            shutdownSignal: shutdown.signal,
            reportEnded: (worker) => reportEnded(worker),
            audit,
            logs: { logPathOf: (id) => supervisor.logPathOf(id), isActive: (id) => supervisor.isActive(id), checkpoints: logCheckpoints },
          }),
        },
      ],
    });
    if (localToken) {
      localCredential = await Promise.resolve()
        .then(() => writeLocalCredential(server.port, localToken))
        .catch(async (err: Error) => {
          await server.close();
          throw new Error(`local credential: ${err.message}`);
        });
    }
  } catch (error) {
    await Promise.allSettled([gpuProbe.close(), supervisor.close({ stopWorkers: false })]);
    xids?.close();
    throw error;
  }
  const url = advertisedEndpoint(resolved, server.port);
  const hiveInfo = buildHiveInfo({ hiveId: resolved.hiveId, endpoint: url, labels: resolved.labels, cgroupMode: supervisor.cgroupMode });
  info = hiveInfo;
  const incarnation = newIncarnation();
  monitor.start();

  let heartbeat: HeartbeatClient | undefined;
  // A worker that ends is reported at once, not at the next tick and report interval.
  supervisor.onExit(() => void monitor.tickNow().then(() => heartbeat?.flush(), () => undefined));
  /** StopWorker answers once its worker's end is in a report and, while connected, acked by the queen. */
  const reportEnded = async (worker: WorkerTelemetry): Promise<void> => {
    await monitor.tickNow().catch(() => undefined);
    if (!heartbeat?.connected) return;
    heartbeat.flush();
    await monitor.whenEndedDelivered(worker.workerId, resolved.ackDeadlineMs);
  };
  if (resolved.queenUrls.length > 0) {
    heartbeat = new HeartbeatClient({
      queens: new QueenTargets({
        urls: resolved.queenUrls,
        transport: (queenUrl, pinnedAddress) => createApiaryTransport(queenUrl, {
          pingIntervalMs: resolved.pingIntervalMs,
          pingTimeoutMs: resolved.pingTimeoutMs,
          credentials: { ...resolved.queenCredentials, expectServer: { kind: "queen" } },
          ...(pinnedAddress ? { pinnedAddress } : {}),
        }),
      }),
      info: hiveInfo,
      incarnation,
      latestReport: () => monitor.latest(),
      onDelivered: (report) => monitor.delivered(report),
      reportIntervalMs: resolved.reportIntervalMs,
      ackDeadlineMs: resolved.ackDeadlineMs,
      sendOnChange: resolved.sendOnChange,
      logger: logger.child({ component: "heartbeat" }),
    });
    heartbeat.start();
  }
  logger.info(
    { url, hiveId: hiveInfo.hiveId, queen: resolved.queenUrl ?? null, cgroupMode: hiveInfo.cgroupMode, incarnation, readopted: supervisor.readopted, localCredential: localCredential?.file ?? null },
    "hive started",
  );

  let closing: Promise<void> | undefined;
  const close = (options: HiveCloseOptions = {}): Promise<void> =>
    (closing ??= (async () => {
      const workersLeftRunning = options.stopWorkers ? 0 : supervisor.runningCount;
      await heartbeat?.stop({ reason: options.reason ?? "hive shutting down", deadlineMs: resolved.goodbyeDeadlineMs, workersLeftRunning });
      await monitor.stop();
      shutdown.abort();
      await server.close();
      localCredential?.remove();
      await gpuProbe.close();
      xids?.close();
      await supervisor.close({ stopWorkers: options.stopWorkers ?? false });
      logger.info({ hiveId: hiveInfo.hiveId, stopWorkers: options.stopWorkers ?? false }, "hive stopped");
    })());

  return { server, url, config: resolved, info: hiveInfo, incarnation, supervisor, gpuProbe, monitor, metrics, heartbeat, readopted: [...supervisor.readopted], close };
}
