import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { HiveMembershipSchema, QueenMemberSchema } from "../../../gen/apiary/v1/cluster_pb.js";
import { HiveDepartureSchema } from "../../../gen/apiary/v1/queen_pb.js";
import { HiveInfoSchema } from "../../../gen/apiary/v1/telemetry_pb.js";
import { bytes, text } from "../../etcd/key-range.js";
import type { HiveMembership, QueenMember } from "./cluster-store.js";

/**
 * Stored values as protobuf JSON (apiary/v1/cluster.proto): `etcdctl get --prefix /apiary/` shows
 * them as they are, and they are a few hundred bytes written only on membership changes, so binary's
 * smaller size buys nothing. Unknown fields are ignored, so a newer queen's values read in an older one.
 */
const READ = { ignoreUnknownFields: true } as const;

export function encodeQueen(m: QueenMember): Uint8Array {
  return bytes(
    toJsonString(
      QueenMemberSchema,
      create(QueenMemberSchema, { queenId: m.queenId, advertiseUrl: m.advertiseUrl, epoch: m.epoch, startedAt: timestampFromMs(m.startedAtWallMs) }),
    ),
  );
}

export function decodeQueen(queenId: string, value: Uint8Array): QueenMember {
  const m = fromJsonString(QueenMemberSchema, text(value), READ);
  return { queenId, advertiseUrl: m.advertiseUrl, epoch: m.epoch, startedAtWallMs: m.startedAt ? timestampMs(m.startedAt) : 0 };
}

export function encodeHive(h: HiveMembership): Uint8Array {
  const msg = create(HiveMembershipSchema, {
    info: h.info,
    incarnation: h.incarnation,
    health: h.health,
    connected: h.connected,
    changedAt: timestampFromMs(h.changedAtWallMs),
    ...(h.departure
      ? {
          departure: create(HiveDepartureSchema, {
            reason: h.departure.reason,
            workersLeftRunning: h.departure.workersLeftRunning,
            leftAt: timestampFromMs(h.departure.leftAtWallMs),
          }),
        }
      : {}),
  });
  return bytes(toJsonString(HiveMembershipSchema, msg));
}

export function decodeHive(hiveId: string, value: Uint8Array): HiveMembership {
  const m = fromJsonString(HiveMembershipSchema, text(value), READ);
  const out: HiveMembership = {
    hiveId,
    info: m.info ?? create(HiveInfoSchema, { hiveId }),
    incarnation: m.incarnation,
    health: m.health,
    connected: m.connected,
    changedAtWallMs: m.changedAt ? timestampMs(m.changedAt) : 0,
  };
  if (m.departure) {
    out.departure = {
      reason: m.departure.reason,
      workersLeftRunning: m.departure.workersLeftRunning,
      leftAtWallMs: m.departure.leftAt ? timestampMs(m.departure.leftAt) : 0,
    };
  }
  return out;
}
