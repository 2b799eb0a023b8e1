import type { HiveInfo } from "../../../gen/apiary/v1/telemetry_pb.js";

/**
 * Several queens: a hive must be claimed in the cluster store before it is welcomed. Heartbeat
 * (ingest/) asks, the cluster node (cluster/) answers; both import this file, neither the other.
 */
export interface HiveClaims {
  readonly queenId: string;
  /** Takes the hive for this queen; throws ClusterUnavailableError when it cannot now. */
  claim(info: HiveInfo, incarnation: string): Promise<void>;
}

/** This queen cannot take a hive now (no lease, store unreachable): the hive should try another queen. */
export class ClusterUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ClusterUnavailableError";
  }
}
