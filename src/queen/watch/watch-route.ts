import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { QueenService, WatchRequestSchema, type WatchRequest, type WatchResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { rawGrpcStreamHandler } from "../../rpc/raw-grpc-stream.js";
import type { Http2StreamHandler, Http2StreamSetup } from "../../rpc/server.js";
import { encodeWatchResponse } from "./shared-event-encoding.js";

/** APIARY_RAW_WATCH=0 sends gRPC Watch streams through connect-node too (for A/B measurements). */
export const RAW_WATCH_ENV = "APIARY_RAW_WATCH";

/**
 * QueenService.Watch for plain gRPC clients on raw HTTP/2 streams (raw-grpc-stream.ts): the same
 * handler, interceptors and authorisation as through connect-node, without its per-message
 * stream pipeline, and responses framed straight from their shared encoded events. Every other
 * protocol and codec stays with connect-node. Undefined when turned off.
 */
export function watchHttp2Streams(watch: ServiceImpl<typeof QueenService>["watch"]): ((setup: Http2StreamSetup) => Http2StreamHandler) | undefined {
  if (process.env[RAW_WATCH_ENV] === "0") return undefined;
  return (setup) =>
    rawGrpcStreamHandler(
      {
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
      },
      setup,
    );
}
