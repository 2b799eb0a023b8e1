import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { QueenService, WatchRequestSchema, type WatchRequest, type WatchResponse, type WatchResponseSchema } from "../../../gen/apiary/v1/queen_pb.js";
import type { FastPath } from "../../rpc/fast-path.js";
import { encodeWatchResponse } from "./shared-event-encoding.js";

/**
 * QueenService.Watch's fast path (src/rpc/fast-path.ts): the same handler, interceptors and
 * authorisation as through connect-node, and on raw HTTP/2 gRPC streams responses framed straight
 * from their shared encoded events, without connect-node's per-message stream pipeline.
 */
export function watchFastPath(watch: ServiceImpl<typeof QueenService>["watch"]): FastPath<typeof WatchRequestSchema, typeof WatchResponseSchema> {
  return {
    method: QueenService.method.watch,
    // The queen's Watch yields whole WatchResponses (connect-node normalises what it yields either way).
    impl: watch as (request: WatchRequest, ctx: HandlerContext) => AsyncIterable<WatchResponse>,
    newDecoder: () => (payload) => {
      try {
        return fromBinary(WatchRequestSchema, payload);
      } catch (err) {
        throw new ConnectError(`watch: cannot decode the request: ${err instanceof Error ? err.message : String(err)}`, Code.InvalidArgument);
      }
    },
    encode: encodeWatchResponse,
  };
}
