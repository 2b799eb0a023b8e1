import type { Logger } from "pino";
import type { HiveInfo, WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { createApiaryTransport } from "../rpc/transport.js";
import { HeartbeatClient } from "./heartbeat-client.js";
import type { ResolvedHiveConfig } from "./hive-config.js";
import type { Monitor } from "./monitor.js";
import { QueenTargets } from "./queen-targets.js";

/** Starts the Heartbeat to the queens, sending the monitor's reports; undefined when the hive runs without a queen. */
export function startHeartbeat(resolved: ResolvedHiveConfig, logger: Logger, hive: { info: HiveInfo; incarnation: string; monitor: Monitor }): HeartbeatClient | undefined {
  if (resolved.queenUrls.length === 0) return undefined;
  const { monitor } = hive;
  const heartbeat = new HeartbeatClient({
    queens: new QueenTargets({
      urls: resolved.queenUrls,
      transport: (queenUrl, pinnedAddress) => createApiaryTransport(queenUrl, {
        pingIntervalMs: resolved.pingIntervalMs,
        pingTimeoutMs: resolved.pingTimeoutMs,
        credentials: { ...resolved.queenCredentials, expectServer: { kind: "queen" } },
        ...(pinnedAddress ? { pinnedAddress } : {}),
      }),
    }),
    info: hive.info,
    incarnation: hive.incarnation,
    latestReport: () => monitor.latest(),
    onDelivered: (report) => monitor.delivered(report),
    reportIntervalMs: resolved.reportIntervalMs,
    ackDeadlineMs: resolved.ackDeadlineMs,
    sendOnChange: resolved.sendOnChange,
    logger: logger.child({ component: "heartbeat" }),
  });
  heartbeat.start();
  return heartbeat;
}

/**
 * A worker's end reaches the queen at once, not at the next tick and report interval. The server
 * needs reportEnded before the heartbeat exists (the heartbeat needs the server's port), hence attach().
 */
export class EndedReports {
  private heartbeat: HeartbeatClient | undefined;

  constructor(private readonly monitor: Monitor, private readonly ackDeadlineMs: number) {}

  attach(heartbeat: HeartbeatClient | undefined): void {
    this.heartbeat = heartbeat;
  }

  /** On any worker's exit: a fresh report, flushed to the queen. */
  workerExited(): void {
    void this.monitor.tickNow().then(() => this.heartbeat?.flush(), () => undefined);
  }

  /** StopWorker answers once its worker's end is in a report and, while connected, acked by the queen. */
  async reportEnded(worker: WorkerTelemetry): Promise<void> {
    await this.monitor.tickNow().catch(() => undefined);
    if (!this.heartbeat?.connected) return;
    this.heartbeat.flush();
    await this.monitor.whenEndedDelivered(worker.workerId, this.ackDeadlineMs);
  }
}
