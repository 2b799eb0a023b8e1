import type { DescMethodBiDiStreaming, DescService, MessageShape } from "@bufbuild/protobuf";
import type { HandlerContext, Interceptor, ServiceImpl } from "@connectrpc/connect";
import { QueenService, type HeartbeatRequest, type HeartbeatResponseSchema } from "../../../gen/apiary/v1/queen_pb.js";
import { rawGrpcStreamHandler } from "../../rpc/raw-grpc-stream.js";
import type { BinaryRoute, Http2StreamHandler, Http2StreamSetup } from "../../rpc/server.js";
import { HeartbeatDecoder, HeartbeatFrameSchema, type HeartbeatFrame } from "./heartbeat-decoder.js";

/** APIARY_RAW_HEARTBEAT=0 sends gRPC Heartbeats through connect-node too (for A/B measurements). */
export const RAW_HEARTBEAT_ENV = "APIARY_RAW_HEARTBEAT";

/**
 * QueenService.Heartbeat for binary-encoded requests: connect-node hands over each request's
 * bytes undecoded (HeartbeatFrameSchema), and this route's interceptor, the outermost, decodes
 * them with one HeartbeatDecoder per stream, reusing what did not change since the hive's
 * previous report. The server's interceptors (authorisation included) and the handler then see
 * ordinary HeartbeatRequests; limits, compression and protocols are connect-node's as for every RPC.
 * Plain gRPC (proto, uncompressed) skips connect-node's stream pipeline altogether: heartbeatHttp2Streams
 * serves those HTTP/2 streams with the same decoder, interceptors and handler.
 */
export function heartbeatBinaryRoute(heartbeat: ServiceImpl<typeof QueenService>["heartbeat"], keepWireBytes: () => boolean = () => false): BinaryRoute {
  const real = QueenService.method.heartbeat;
  const method = { ...real, input: HeartbeatFrameSchema } as unknown as DescMethodBiDiStreaming;
  const service = { ...QueenService, methods: [method], method: { heartbeat: method } } as unknown as DescService;
  const decodeFrames: Interceptor = (next) => async (req) =>
    req.stream ? next({ ...req, message: decodeEach(req.message as AsyncIterable<HeartbeatFrame>, keepWireBytes) } as typeof req) : next(req);
  return { service, impl: { heartbeat }, interceptors: [decodeFrames] };
}

/** QueenService.Heartbeat for plain gRPC clients on raw HTTP/2 streams; undefined when turned off. */
export function heartbeatHttp2Streams(
  heartbeat: ServiceImpl<typeof QueenService>["heartbeat"],
  keepWireBytes: () => boolean = () => false,
): ((setup: Http2StreamSetup) => Http2StreamHandler) | undefined {
  if (process.env[RAW_HEARTBEAT_ENV] === "0") return undefined;
  return (setup) =>
    rawGrpcStreamHandler(
      {
        method: QueenService.method.heartbeat,
        impl: heartbeat as (requests: AsyncIterable<HeartbeatRequest>, ctx: HandlerContext) => AsyncIterable<MessageShape<typeof HeartbeatResponseSchema>>,
        newDecoder: () => {
          const decoder = new HeartbeatDecoder(keepWireBytes);
          return (payload) => decoder.decodeBytes(payload);
        },
      },
      setup,
    );
}

/** Maps each frame to its request on the caller's pull, with no extra async generator per message. */
function decodeEach(frames: AsyncIterable<HeartbeatFrame>, keepWireBytes: () => boolean): AsyncIterable<HeartbeatRequest> {
  return {
    [Symbol.asyncIterator]() {
      const it = frames[Symbol.asyncIterator]();
      const decoder = new HeartbeatDecoder(keepWireBytes);
      return {
        next: () => it.next().then((r) => (r.done ? r : { done: false, value: decoder.decode(r.value) })),
        return: (value?: unknown) => (it.return ? it.return(value) : Promise.resolve({ done: true as const, value: undefined })) as Promise<IteratorResult<HeartbeatRequest>>,
      };
    },
  };
}
