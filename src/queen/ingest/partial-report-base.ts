import { ReportScope, type HiveReport } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { HiveView } from "../registry/registry.js";

/**
 * Whether a PARTIAL report (send-on-change) applies exactly onto what the queen holds: only onto
 * a full report received on the same stream, and only when its base_seq names the report the
 * queen applied last. Otherwise the queen still applies it (its entries are the hive's latest)
 * and asks the hive for a full report (HeartbeatAck.resync): after a queen restart, a takeover of
 * the hive, or a report the queen never saw.
 */
export class PartialReportBase {
  private fullSeen = false;

  /** Call before applying `report`; `hive` is the queen's record of the hive as it is now. */
  needsResync(report: HiveReport, hive: HiveView | undefined): boolean {
    if (report.scope !== ReportScope.PARTIAL) {
      this.fullSeen = true;
      return false;
    }
    return !this.fullSeen || hive === undefined || hive.lastSeq !== report.baseSeq;
  }
}
