import type { DescMethodBiDiStreaming, DescService } from "@bufbuild/protobuf";
import type { Interceptor, ServiceImpl } from "@connectrpc/connect";
import { QueenService, type HeartbeatRequest } from "../../../gen/apiary/v1/queen_pb.js";
import type { BinaryRoute } from "../../rpc/server.js";
import { HeartbeatDecoder, HeartbeatFrameSchema, type HeartbeatFrame } from "./heartbeat-decoder.js";

/**
 * QueenService.Heartbeat for binary-encoded requests: connect-node hands over each request's
 * bytes undecoded (HeartbeatFrameSchema), and this route's interceptor, the outermost, decodes
 * them with one HeartbeatDecoder per stream, reusing what did not change since the hive's
 * previous report. The server's interceptors (authorisation included) and the handler then see
 * ordinary HeartbeatRequests; limits, compression and protocols are connect-node's as for every RPC.
 */
export function heartbeatBinaryRoute(heartbeat: ServiceImpl<typeof QueenService>["heartbeat"]): BinaryRoute {
  const real = QueenService.method.heartbeat;
  const method = { ...real, input: HeartbeatFrameSchema } as unknown as DescMethodBiDiStreaming;
  const service = { ...QueenService, methods: [method], method: { heartbeat: method } } as unknown as DescService;
  const decodeFrames: Interceptor = (next) => async (req) =>
    req.stream ? next({ ...req, message: decodeEach(req.message as AsyncIterable<HeartbeatFrame>) } as typeof req) : next(req);
  return { service, impl: { heartbeat }, interceptors: [decodeFrames] };
}

/** Maps each frame to its request on the caller's pull, with no extra async generator per message. */
function decodeEach(frames: AsyncIterable<HeartbeatFrame>): AsyncIterable<HeartbeatRequest> {
  return {
    [Symbol.asyncIterator]() {
      const it = frames[Symbol.asyncIterator]();
      const decoder = new HeartbeatDecoder();
      return {
        next: () => it.next().then((r) => (r.done ? r : { done: false, value: decoder.decode(r.value) })),
        return: (value?: unknown) => (it.return ? it.return(value) : Promise.resolve({ done: true as const, value: undefined })) as Promise<IteratorResult<HeartbeatRequest>>,
      };
    },
  };
}
