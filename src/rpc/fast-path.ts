import {
  createFileRegistry,
  create,
  fromBinary,
  isMessage,
  toBinary,
  type DescMessage,
  type DescMethodBiDiStreaming,
  type DescMethodServerStreaming,
  type DescService,
  type Message,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Code, ConnectError, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import type { ServiceRegistration } from "./server-options.js";

/**
 * One streaming method served with a request decoder (and optionally a response encoder) of its
 * own, on every protocol that carries protobuf binary: the server installs it on raw HTTP/2 gRPC
 * streams (raw-grpc-stream.ts: plain gRPC, proto, uncompressed) and on connect-node's binary path
 * (gRPC-Web, Connect with proto, compressed gRPC), where connect-node hands the request bytes over
 * undecoded. JSON requests to the method reach the ordinary service. Interceptors, authorisation
 * and the handler context are the server's own on both.
 */
export type FastPath<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> = FastPathCodec<I, O> &
  (
    | { method: DescMethodBiDiStreaming<I, O>; impl(requests: AsyncIterable<MessageShape<I>>, ctx: HandlerContext): AsyncIterable<MessageShape<O>> }
    | { method: DescMethodServerStreaming<I, O>; impl(request: MessageShape<I>, ctx: HandlerContext): AsyncIterable<MessageShape<O>> }
  );

interface FastPathCodec<I extends DescMessage, O extends DescMessage> {
  /** A decoder for one stream's requests (it may keep state between them); throws a ConnectError on bad bytes. */
  newDecoder(): (payload: Uint8Array) => MessageShape<I>;
  /** Encodes a response on the raw HTTP/2 path (default: toBinary); must give bytes that decode to the message. */
  encode?(message: MessageShape<O>): Uint8Array;
}

/** Which fast paths also take raw HTTP/2 gRPC streams: all (true, the default), none, or these method names. */
export type RawFastPaths = boolean | readonly string[];

export function servesRaw(setting: RawFastPaths | undefined, path: FastPath<any, any>): boolean {
  if (setting === undefined || typeof setting === "boolean") return setting !== false;
  return setting.includes(path.method.name);
}

/** A message with no fields: protobuf-es keeps every field it reads as unknown, undecoded. */
const UndecodedSchema: DescMessage = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "apiary/internal/undecoded.proto",
    package: "apiary.internal",
    syntax: "proto3",
    messageType: [{ name: "Undecoded" }],
  }),
  () => undefined,
).getMessage("apiary.internal.Undecoded")!;

/** A registration for binary requests only; its own interceptors run first (outermost), before the server's. */
export interface BinaryRoute extends ServiceRegistration {
  interceptors?: Interceptor[];
}

/** The fast path on connect-node's binary path: requests read as Undecoded, then decoded by the path's own decoder. */
export function binaryRouteOf(path: FastPath<any, any>): BinaryRoute {
  const method = { ...path.method, input: UndecodedSchema };
  const service = { ...path.method.parent, methods: [method], method: { [path.method.localName]: method } } as unknown as DescService;
  const typeName = path.method.parent.typeName;
  const name = path.method.name;
  // The binary adapter runs every route's interceptors on every call: each decodes its own method's only.
  const decodeRequests: Interceptor = (next) => async (req) => {
    if (req.method.name !== name || req.service.typeName !== typeName) return next(req);
    const decode = path.newDecoder();
    const message = req.stream ? mapEach(req.message as AsyncIterable<Message>, decode) : decode(bytesOf(req.message as Message));
    return next({ ...req, message } as typeof req);
  };
  return { service, impl: { [path.method.localName]: path.impl }, interceptors: [decodeRequests] };
}

/** The message's bytes as they came (one field: the same memory, no copy). */
export function bytesOf(message: Message): Uint8Array {
  const fields = message.$unknown ?? [];
  if (fields.length === 1) {
    const { no, wireType, data } = fields[0];
    const tagLength = varintLength(((no << 3) | wireType) >>> 0);
    if (data.byteOffset >= tagLength) return new Uint8Array(data.buffer, data.byteOffset - tagLength, tagLength + data.length);
  }
  const writer = new BinaryWriter();
  for (const f of fields) writer.tag(f.no, f.wireType).raw(f.data);
  return writer.finish();
}

function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value >>>= 7;
    n++;
  }
  return n;
}

/** Maps each message on the caller's pull, with no extra async generator per message. */
function mapEach<T>(messages: AsyncIterable<Message>, decode: (payload: Uint8Array) => T): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = messages[Symbol.asyncIterator]();
      return {
        next: () => it.next().then((r) => (r.done ? r : { done: false, value: decode(bytesOf(r.value)) })),
        return: (value?: unknown) => (it.return ? it.return(value) : Promise.resolve({ done: true as const, value: undefined })) as Promise<IteratorResult<T>>,
      };
    },
  };
}

/**
 * A method's fast path with protobuf-es's own decoder and encoder: what a raw HTTP/2 stream buys
 * without a codec of its own (a stream the client reset before its call started costs no handler).
 */
export function plainFastPath<I extends DescMessage, O extends DescMessage>(
  method: DescMethodServerStreaming<I, O>,
  impl: (request: MessageShape<I>, ctx: HandlerContext) => AsyncIterable<MessageInitShape<O>>,
): FastPath<I, O> {
  return {
    method,
    // A handler may yield init shapes, as connect-node allows; encode makes them messages.
    impl: impl as (request: MessageShape<I>, ctx: HandlerContext) => AsyncIterable<MessageShape<O>>,
    encode: (message) => toBinary(method.output, isMessage(message, method.output) ? message : create(method.output, message as MessageInitShape<O>)),
    newDecoder: () => (payload) => {
      try {
        return fromBinary(method.input, payload);
      } catch (err) {
        throw new ConnectError(`${method.name}: cannot decode the request: ${err instanceof Error ? err.message : String(err)}`, Code.InvalidArgument);
      }
    },
  };
}
