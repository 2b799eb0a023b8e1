import type { MessageShape } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { QueenService, type HeartbeatRequest, type HeartbeatRequestSchema, type HeartbeatResponseSchema } from "../../../gen/apiary/v1/queen_pb.js";
import type { FastPath } from "../../rpc/fast-path.js";
import { HeartbeatDecoder } from "./heartbeat-decoder.js";
import { encodeHeartbeatResponse } from "./heartbeat-response-encoding.js";

/**
 * QueenService.Heartbeat's fast path (src/rpc/fast-path.ts): binary requests are decoded with one
 * HeartbeatDecoder per stream, reusing what did not change since the hive's previous report, on
 * raw HTTP/2 gRPC streams and on connect-node's binary path alike. The server's interceptors
 * (authorisation included) and the handler then see ordinary HeartbeatRequests.
 */
export function heartbeatFastPath(heartbeat: ServiceImpl<typeof QueenService>["heartbeat"], keepWireBytes: () => boolean = () => false): FastPath<typeof HeartbeatRequestSchema, typeof HeartbeatResponseSchema> {
  return {
    method: QueenService.method.heartbeat,
    impl: heartbeat as (requests: AsyncIterable<HeartbeatRequest>, ctx: HandlerContext) => AsyncIterable<MessageShape<typeof HeartbeatResponseSchema>>,
    newDecoder: () => {
      const decoder = new HeartbeatDecoder(keepWireBytes);
      return (payload) => decoder.decodeBytes(payload);
    },
    // Acks by hand on the raw HTTP/2 path (toBinary's reflection was ~5 % of a report's CPU).
    encode: encodeHeartbeatResponse,
  };
}
