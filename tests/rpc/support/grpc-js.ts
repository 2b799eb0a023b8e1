// Calls through @grpc/grpc-js, a gRPC stack other than Connect, with protobuf-es codecs.
import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";

export function grpcJsClient(url: string): grpc.Client {
  return new grpc.Client(new URL(url).host, grpc.credentials.createInsecure());
}

function codecs<I extends DescMessage, O extends DescMessage>(input: I, output: O) {
  return {
    serialize: (value: MessageShape<I>) => Buffer.from(toBinary(input, value)),
    deserialize: (bytes: Buffer) => fromBinary(output, bytes),
  };
}

export function unary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  path: string,
  input: I,
  output: O,
  request: MessageShape<I>,
): Promise<MessageShape<O>> {
  const { serialize, deserialize } = codecs(input, output);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(path, serialize, deserialize, request, (err, value) =>
      err || !value ? reject(err ?? new Error("no response")) : resolve(value),
    );
  });
}

export function serverStream<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  path: string,
  input: I,
  output: O,
  request: MessageShape<I>,
): grpc.ClientReadableStream<MessageShape<O>> {
  const { serialize, deserialize } = codecs(input, output);
  return client.makeServerStreamRequest(path, serialize, deserialize, request);
}

export function bidiStream<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  path: string,
  input: I,
  output: O,
): grpc.ClientDuplexStream<MessageShape<I>, MessageShape<O>> {
  const { serialize, deserialize } = codecs(input, output);
  return client.makeBidiStreamRequest(path, serialize, deserialize);
}

/** Collects what a stream sends until it ends, and how it ended. */
export function collect<T>(stream: grpc.ClientReadableStream<T>): {
  messages: T[];
  ended: Promise<grpc.ServiceError | undefined>;
} {
  const messages: T[] = [];
  stream.on("data", (m: T) => messages.push(m));
  const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
    stream.on("error", (err: grpc.ServiceError) => resolve(err));
    stream.on("end", () => resolve(undefined));
  });
  return { messages, ended };
}
