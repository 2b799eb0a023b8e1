import type { Logger } from "pino";
import type { LocalCredential } from "../rpc/auth/local-credential.js";
import type { RpcServer } from "../rpc/server.js";
import type { HeartbeatClient } from "./heartbeat-client.js";
import type { HiveParts } from "./hive-parts.js";

export interface HiveCloseOptions {
  /** Also stop every worker (SIGTERM, then SIGKILL after their grace); default false: workers outlive the hive and are re-adopted. */
  stopWorkers?: boolean;
  /** Why the hive leaves, sent in its Goodbye. */
  reason?: string;
}

export interface RunningHive {
  hiveId: string;
  parts: HiveParts;
  server: RpcServer;
  localCredential: LocalCredential | undefined;
  heartbeat: HeartbeatClient | undefined;
  /** Aborted once the monitor stopped, so open log streams end before the server closes. */
  shutdown: AbortController;
  goodbyeDeadlineMs: number;
  logger: Logger;
}

/** The hive's close(): Goodbye to the queen, stop the monitor, close the server, then the supervisor. Idempotent. */
export function hiveShutdown(hive: RunningHive): (options?: HiveCloseOptions) => Promise<void> {
  const { parts, server, heartbeat, logger } = hive;
  let closing: Promise<void> | undefined;
  return (options = {}) =>
    (closing ??= (async () => {
      const stopWorkers = options.stopWorkers ?? false;
      const workersLeftRunning = stopWorkers ? 0 : parts.supervisor.runningCount;
      await heartbeat?.stop({ reason: options.reason ?? "hive shutting down", deadlineMs: hive.goodbyeDeadlineMs, workersLeftRunning });
      await parts.monitor.stop();
      hive.shutdown.abort();
      await server.close();
      hive.localCredential?.remove();
      await parts.gpuProbe.close();
      parts.xids?.close();
      await parts.supervisor.close({ stopWorkers });
      logger.info({ hiveId: hive.hiveId, stopWorkers }, "hive stopped");
    })());
}
