import type { HiveInfo } from "../../gen/apiary/v1/telemetry_pb.js";
import { createLogger } from "../common/logger.js";
import type { RpcServer } from "../rpc/server.js";
import type { GpuProbe } from "./gpu/gpu-probe.js";
import type { HeartbeatClient } from "./heartbeat-client.js";
import { advertisedEndpoint, resolveHiveConfig, type HiveConfig, type ResolvedHiveConfig } from "./hive-config.js";
import { EndedReports, startHeartbeat } from "./hive-heartbeat.js";
import { buildHiveInfo, newIncarnation } from "./hive-info.js";
import { assembleHiveParts, releaseHiveParts } from "./hive-parts.js";
import { startHiveServer } from "./hive-server.js";
import { hiveShutdown, type HiveCloseOptions } from "./hive-shutdown.js";
import type { HiveMetrics } from "./metrics/hive-metrics.js";
import type { Monitor } from "./monitor.js";
import type { WorkerSupervisor } from "./workers/worker-supervisor.js";

export type { HiveCloseOptions } from "./hive-shutdown.js";

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
  const parts = await assembleHiveParts(resolved, logger);
  const { supervisor, monitor } = parts;
  const shutdown = new AbortController();
  const endedReports = new EndedReports(monitor, resolved.ackDeadlineMs);
  let info: HiveInfo | undefined;
  const { server, localCredential } = await startHiveServer(resolved, logger, parts, {
    info: () => info as HiveInfo,
    shutdownSignal: shutdown.signal,
    reportEnded: (worker) => endedReports.reportEnded(worker),
  }).catch(async (error: unknown) => {
    await releaseHiveParts(parts);
    throw error;
  });
  const url = advertisedEndpoint(resolved, server.port);
  const hiveInfo = buildHiveInfo({ hiveId: resolved.hiveId, endpoint: url, labels: resolved.labels, cgroupMode: supervisor.cgroupMode });
  info = hiveInfo;
  const incarnation = newIncarnation();
  monitor.start();
  supervisor.onExit(() => endedReports.workerExited());
  const heartbeat = startHeartbeat(resolved, logger, { info: hiveInfo, incarnation, monitor });
  endedReports.attach(heartbeat);
  logger.info(
    { url, hiveId: hiveInfo.hiveId, queen: resolved.queenUrl ?? null, cgroupMode: hiveInfo.cgroupMode, incarnation, readopted: supervisor.readopted, localCredential: localCredential?.file ?? null },
    "hive started",
  );
  const close = hiveShutdown({ hiveId: hiveInfo.hiveId, parts, server, localCredential, heartbeat, shutdown, goodbyeDeadlineMs: resolved.goodbyeDeadlineMs, logger });
  const { gpuProbe, metrics } = parts;
  return { server, url, config: resolved, info: hiveInfo, incarnation, supervisor, gpuProbe, monitor, metrics, heartbeat, readopted: [...supervisor.readopted], close };
}
