import type { Logger } from "pino";
import { EngineScraper } from "./engine/engine-scraper.js";
import { ENGINE_WORKER_SERIES } from "./engine/engine-series.js";
import { GpuProbe } from "./gpu/gpu-probe.js";
import { XidMonitor } from "./kmsg/xid-monitor.js";
import type { ResolvedHiveConfig } from "./hive-config.js";
import { HiveMetrics } from "./metrics/hive-metrics.js";
import { Monitor } from "./monitor.js";
import { LogCheckpoints } from "./worker-logs/log-checkpoints.js";
import { ProgramAllowList } from "./workers/program-allow-list.js";
import { EnvAllowList } from "./workers/worker-env.js";
import { WorkerSupervisor } from "./workers/worker-supervisor.js";

/** What the hive measures and supervises on its host, before anything listens. */
export interface HiveParts {
  supervisor: WorkerSupervisor;
  metrics: HiveMetrics;
  /** Undefined when GPU probing is off. */
  xids: XidMonitor | undefined;
  gpuProbe: GpuProbe;
  monitor: Monitor;
  logCheckpoints: LogCheckpoints;
}

/** Builds the supervisor (re-adopting earlier workers), the GPU probe, the engine scraper and the tick monitor that feeds metrics and log checkpoints. */
export async function assembleHiveParts(resolved: ResolvedHiveConfig, logger: Logger): Promise<HiveParts> {
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
  return { supervisor, metrics, xids, gpuProbe, monitor, logCheckpoints };
}

/** Releases the parts when the hive fails to start: workers keep running, to be re-adopted. */
export async function releaseHiveParts(parts: HiveParts): Promise<void> {
  await Promise.allSettled([parts.gpuProbe.close(), parts.supervisor.close({ stopWorkers: false })]);
  parts.xids?.close();
}
