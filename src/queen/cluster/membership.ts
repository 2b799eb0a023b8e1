import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { HiveStatusSchema, type HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import type { HiveView } from "../registry/registry.js";
import { hiveInfosEqual } from "../registry/telemetry-equality.js";
import type { HiveMembership } from "./cluster-store.js";

/** The durable part of a hive as this queen holds it. */
export function membershipOf(hive: HiveView, wallMs: number): HiveMembership {
  return {
    hiveId: hive.hiveId,
    info: hive.info,
    incarnation: hive.incarnation,
    health: hive.health,
    connected: hive.connected,
    ...(hive.departure ? { departure: { ...hive.departure } } : {}),
    changedAtWallMs: wallMs,
  };
}

/** Equal in everything but the wall time of the write. */
export function membershipsEqual(a: HiveMembership, b: HiveMembership): boolean {
  return (
    a.hiveId === b.hiveId &&
    a.incarnation === b.incarnation &&
    a.health === b.health &&
    a.connected === b.connected &&
    a.departure?.reason === b.departure?.reason &&
    a.departure?.workersLeftRunning === b.departure?.workersLeftRunning &&
    a.departure?.leftAtWallMs === b.departure?.leftAtWallMs &&
    hiveInfosEqual(a.info, b.info)
  );
}

/** A stored membership as a HiveStatus without telemetry, for Registry.applyRemote(…, "membership"). */
export function statusOfMembership(m: HiveMembership): HiveStatus {
  return create(HiveStatusSchema, {
    info: m.info,
    health: m.health,
    incarnation: m.incarnation,
    connected: m.connected,
    departure: m.departure && {
      reason: m.departure.reason,
      workersLeftRunning: m.departure.workersLeftRunning,
      leftAt: timestampFromMs(m.departure.leftAtWallMs),
    },
  });
}
