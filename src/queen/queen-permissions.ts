import type { Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { QueenPeerService } from "../../gen/apiary/v1/queen_peer_pb.js";
import { QueenService, type HeartbeatRequest } from "../../gen/apiary/v1/queen_pb.js";
import { firstMessageCheck } from "../rpc/auth/first-message-check.js";
import { permissionTable } from "../rpc/auth/policy.js";

/**
 * What each queen RPC needs (src/rpc/auth/policy.ts for the kinds): any identity reads,
 * only a hive reports, the peer service is internal to a cluster of queens (another queen, or
 * an admin debugging it). A method of another service stays admin-only.
 */
export const queenPermissionOf = permissionTable({
  methods: { [`${QueenService.typeName}/${QueenService.method.heartbeat.name}`]: "hive" },
  services: { [QueenService.typeName]: "authenticated", [QueenPeerService.typeName]: "write" },
});

/**
 * A hive reports for itself only: the Heartbeat hello's hive_id must be the id its certificate
 * names (a first message that is not a hello counts as naming that id).
 */
export function heartbeatHelloCheck(logger: Logger): Interceptor {
  return firstMessageCheck<HeartbeatRequest>({
    method: QueenService.method.heartbeat,
    logger,
    check: (message, caller) => {
      const said = message.kind.case === "hello" ? (message.kind.value.hive?.hiveId ?? "") : caller.name;
      if (said === caller.name) return undefined;
      return `heartbeat: hello says hive_id ${JSON.stringify(said)} but the certificate names hive ${JSON.stringify(caller.name)}`;
    },
  });
}
