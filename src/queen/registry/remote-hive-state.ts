import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import type { RemoteScope } from "./registry.js";
import type { HiveRecord } from "./registry-shard.js";
import { deviceListsEqual, errorsEqual, hiveInfosEqual, probesEqual } from "./telemetry-equality.js";

/**
 * Copies a remote hive's hive-level state (not its workers) into its record; true when anything a
 * hive event shows changed. last_seen and last_seq follow the owner but, as with reports, alone
 * they are no change.
 */
export function applyRemoteHiveFields(record: HiveRecord, status: HiveStatus, ownerQueenId: string | undefined, scope: RemoteScope): boolean {
  let changed = !record.remote || record.ownerQueenId !== ownerQueenId;
  record.remote = true;
  record.ownerQueenId = ownerQueenId;
  if (status.info && !hiveInfosEqual(record.info, status.info)) {
    record.info = status.info;
    changed = true;
  }
  if (record.incarnation !== status.incarnation) {
    record.incarnation = status.incarnation;
    changed = true;
  }
  if (record.health !== status.health) {
    record.health = status.health;
    changed = true;
  }
  if (record.connected !== status.connected) {
    record.connected = status.connected;
    changed = true;
  }
  const departure = status.departure && {
    reason: status.departure.reason,
    workersLeftRunning: status.departure.workersLeftRunning,
    leftAtWallMs: status.departure.leftAt ? timestampMs(status.departure.leftAt) : 0,
  };
  if (
    record.departure?.reason !== departure?.reason ||
    record.departure?.workersLeftRunning !== departure?.workersLeftRunning ||
    record.departure?.leftAtWallMs !== departure?.leftAtWallMs
  ) {
    record.departure = departure;
    changed = true;
  }
  if (scope === "membership") return changed;

  if (status.lastSeen) record.lastSeenWallMs = timestampMs(status.lastSeen);
  if (status.connectedAt) {
    const at = timestampMs(status.connectedAt);
    if (at !== record.connectedAtWallMs) {
      record.connectedAtWallMs = at;
      changed = true;
    }
  }
  record.lastSeq = status.lastSeq;
  if (!deviceListsEqual(record.devices, status.devices)) {
    record.setDevices(status.devices);
    changed = true;
  }
  if (!probesEqual(record.gpuProbe, status.gpuProbe)) {
    record.gpuProbe = status.gpuProbe;
    changed = true;
  }
  if (record.memoryAvailableBytes !== status.memoryAvailableBytes) {
    record.memoryAvailableBytes = status.memoryAvailableBytes;
    changed = true;
  }
  if (!errorsEqual(record.errors, status.errors)) {
    record.errors = status.errors;
    changed = true;
  }
  return changed;
}
