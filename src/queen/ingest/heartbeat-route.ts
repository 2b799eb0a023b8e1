import type { DescMethodBiDiStreaming, DescService, MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { QueenService, type HeartbeatRequest, type HeartbeatResponseSchema } from "../../../gen/apiary/v1/queen_pb.js";
import type { ServiceRegistration } from "../../rpc/server.js";
import { HeartbeatDecoder, HeartbeatFrameSchema, type HeartbeatFrame } from "./heartbeat-decoder.js";

type HeartbeatImpl = (requests: AsyncIterable<HeartbeatRequest>, ctx: HandlerContext) => AsyncIterable<MessageInitShape<typeof HeartbeatResponseSchema>>;

/**
 * QueenService.Heartbeat for binary-encoded requests: connect-node hands over each request's
 * bytes undecoded (HeartbeatFrameSchema) and one HeartbeatDecoder per stream decodes them,
 * reusing what did not change since the hive's previous report. Everything else (interceptors,
 * limits, compression, protocols) is connect-node's as for every other RPC.
 */
export function heartbeatBinaryRoute(heartbeat: HeartbeatImpl): ServiceRegistration {
  const real = QueenService.method.heartbeat;
  const method = { ...real, input: HeartbeatFrameSchema } as unknown as DescMethodBiDiStreaming;
  const service = { ...QueenService, methods: [method], method: { heartbeat: method } } as unknown as DescService;
  return {
    service,
    impl: {
      heartbeat: (frames: AsyncIterable<HeartbeatFrame>, ctx: HandlerContext) => heartbeat(decodeEach(frames), ctx),
    },
  };
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
