import type * as http2 from "node:http2";
import { toBinary, type DescMessage, type DescMethodBiDiStreaming, type DescMethodServerStreaming, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext, createMethodImplSpec, type ContextValues, type Interceptor, type MethodImplSpec } from "@connectrpc/connect";
import { transformInvokeImplementation } from "@connectrpc/connect/protocol";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { TurnBudget } from "../common/turn-budget.js";
import type { CallStartQueue } from "./call-start-queue.js";
import type { FastPath } from "./fast-path.js";
import { encodeGrpcFrame, GrpcFrameReader } from "./grpc-frame-reader.js";

// gRPC with the proto codec only; JSON, gRPC-Web and Connect stay with connect-node.
const GRPC_PROTO = /^application\/grpc(?:\+proto)?\s*(?:;|$)/i;
const RESPONSE_CONTENT_TYPE = "application/grpc+proto";
/** Decoded-but-unread requests above which the stream stops reading (HTTP/2 flow control then holds the client). */
const HIGH_WATER_FRAMES = 16;
const LOW_WATER_FRAMES = 4;
/** Requests handed to handlers per event-loop turn, all raw streams of a server together (a Heartbeat report costs 0.1–0.3 ms). */
export const RAW_REQUESTS_PER_TURN = 64;

/** What a raw HTTP/2 stream handler shares with connect-node's handlers on this server. */
export interface Http2StreamSetup {
  /** The server's interceptors (authorisation first, when enabled), as connect-node runs them. */
  interceptors: Interceptor[];
  /** The call's context values (its peer), as connect-node's adapter makes them. */
  contextValues: (stream: http2.ServerHttp2Stream) => ContextValues;
  readMaxBytes: number;
  shutdownSignal: AbortSignal;
  /** Where calls wait for their turn to start. */
  starts: CallStartQueue;
  /**
   * Requests all raw streams together hand to their handlers in one turn. A loaded server reads
   * many streams' data in one turn, and each request ran its handler in the microtasks after its
   * read: without a bound, a burst from many streams was applied in one turn (128 requests in
   * tests/rpc/raw-requests-per-turn.test.ts), however long that took.
   */
  requestsPerTurn: TurnBudget;
}

/** Takes the stream (true) or leaves it to connect-node (false); called for every HTTP/2 stream. */
export type Http2StreamHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;

/**
 * Serves one streaming method (bidi or server-streaming) for gRPC clients (application/grpc,
 * application/grpc+proto, no compression) directly on node:http2 streams: framing, deadlines
 * (grpc-timeout), cancellation, flow control and status trailers by hand, and the call itself
 * through the same interceptors and handler context connect-node uses, so authorisation, metrics
 * and error mapping are the server's own. Other requests (compressed, another codec or protocol)
 * are left to connect-node.
 */
export function rawGrpcStreamHandler<I extends DescMessage, O extends DescMessage>(m: FastPath<I, O>, setup: Http2StreamSetup): Http2StreamHandler {
  const path = `/${m.method.parent.typeName}/${m.method.name}`;
  const spec = createMethodImplSpec(m.method as DescMethodBiDiStreaming<I, O>, m.impl as never) as MethodImplSpec<I, O>;
  const output = m.method.output;
  const encode = m.encode ?? ((message: MessageShape<O>) => toBinary(output, message));
  return (stream, headers) => {
    if (headers[":path"] !== path || headers[":method"] !== "POST") return false;
    if (!GRPC_PROTO.test(String(headers["content-type"] ?? ""))) return false;
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    // A stream the client reset in the same read as its HEADERS (HTTP/2 rapid reset) is gone by its
    // turn and costs no decoder, handler context or handler call.
    setup.starts.enqueue(
      () => new RawStreamCall(stream, headers, spec, encode, m.newDecoder(), setup).start(),
      () => stream.destroyed || stream.closed,
    );
    return true;
  };
}

class RawStreamCall<I extends DescMessage, O extends DescMessage> {
  private readonly frames: GrpcFrameReader;
  private readonly queue: Uint8Array[] = [];
  private readonly scratch: Uint8Array[] = [];
  private readonly requestAbort = new AbortController();
  private readonly context: ReturnType<typeof createHandlerContext>;
  private waiter: { resolve: (r: IteratorResult<MessageShape<I>>) => void; reject: (e: unknown) => void } | undefined;
  private failure: ConnectError | undefined;
  private ended = false;
  private paused = false;
  /** A wake is due at the next turn (this turn's request budget is spent). */
  private waitingForTurn = false;
  /** The response is complete (or the stream is gone): incoming data is read and dropped. */
  private responded = false;
  private closed = false;
  private headersSent = false;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    private readonly spec: MethodImplSpec<I, O>,
    private readonly encode: (message: MessageShape<O>) => Uint8Array,
    private readonly decode: (payload: Uint8Array) => MessageShape<I>,
    private readonly setup: Http2StreamSetup,
  ) {
    this.frames = new GrpcFrameReader(setup.readMaxBytes);
    const timeout = parseTimeout(single(headers["grpc-timeout"]) ?? null, Number.MAX_SAFE_INTEGER);
    // Raised as the first request, so the call fails through the interceptors like connect-node's.
    if (timeout.error) this.failure = timeout.error;
    this.context = createHandlerContext({
      ...spec,
      service: spec.method.parent,
      requestMethod: "POST",
      protocolName: "grpc",
      timeoutMs: timeout.error ? undefined : timeout.timeoutMs,
      shutdownSignal: setup.shutdownSignal,
      requestSignal: this.requestAbort.signal,
      requestHeader: requestHeaders(headers),
      url: `${stream.session?.encrypted ? "https" : "http"}://${String(headers[":authority"] ?? "localhost")}${String(headers[":path"])}`,
      responseHeader: { "content-type": RESPONSE_CONTENT_TYPE },
      responseTrailer: { "grpc-status": "0" },
      contextValues: setup.contextValues(stream),
    });
  }

  start(): void {
    const { stream } = this;
    stream.on("data", (chunk: Buffer) => this.onData(chunk));
    stream.on("end", () => this.onEnd());
    stream.on("close", () => this.onClose());
    stream.on("error", () => {}); // always followed by "close"
    // HEADERS with END_STREAM and no body: node has emitted "end" before the call started.
    if (stream.readableEnded) this.onEnd();
    const input: AsyncIterable<MessageShape<I>> = {
      [Symbol.asyncIterator]: () => ({
        next: () => this.next(),
        return: (value?: unknown) => {
          this.ended = true;
          return Promise.resolve({ done: true as const, value: value as undefined });
        },
      }),
    };
    void this.pump(transformInvokeImplementation(this.spec, this.context, this.setup.interceptors)(input));
  }

  private onData(chunk: Buffer): void {
    if (this.responded || this.failure) return;
    const out = this.scratch;
    try {
      this.frames.push(chunk, out);
    } catch (err) {
      this.failure = err as ConnectError;
    }
    for (let i = 0; i < out.length; i++) this.queue.push(out[i]);
    out.length = 0;
    if (this.queue.length >= HIGH_WATER_FRAMES && !this.paused) {
      this.paused = true;
      this.stream.pause();
    }
    this.wake();
  }

  private onEnd(): void {
    if (!this.frames.atBoundary && !this.failure) this.failure = new ConnectError("protocol error: the request ended inside a message", Code.InvalidArgument);
    this.ended = true;
    this.wake();
  }

  private onClose(): void {
    this.closed = true;
    if (this.responded) return;
    // RST_STREAM from the client, or its connection went: the handler's signal aborts.
    this.responded = true;
    const reason = new ConnectError("the client closed the stream", Code.Canceled);
    this.failure ??= reason;
    this.requestAbort.abort(reason);
    this.wake();
  }

  /** The next request: buffered ones first, then the body's end or its failure. */
  private next(): Promise<IteratorResult<MessageShape<I>>> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.wake();
    });
  }

  private wake(): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    if (this.queue.length > 0) {
      const turn = this.setup.requestsPerTurn.exhausted();
      if (turn) {
        if (!this.waitingForTurn) {
          this.waitingForTurn = true;
          void turn.then(() => {
            this.waitingForTurn = false;
            this.wake();
          });
        }
        return;
      }
      this.setup.requestsPerTurn.spend(1);
      this.waiter = undefined;
      const payload = this.queue.shift()!;
      if (this.paused && this.queue.length <= LOW_WATER_FRAMES) {
        this.paused = false;
        this.stream.resume();
      }
      let value: MessageShape<I>;
      try {
        value = this.decode(payload);
      } catch (err) {
        waiter.reject(err);
        return;
      }
      waiter.resolve({ done: false, value });
    } else if (this.failure) {
      this.waiter = undefined;
      waiter.reject(this.failure);
    } else if (this.ended) {
      this.waiter = undefined;
      waiter.resolve({ done: true, value: undefined });
    }
  }

  private async pump(responses: AsyncIterable<MessageShape<O>>): Promise<void> {
    let error: ConnectError | undefined;
    try {
      for await (const message of responses) {
        if (this.closed || this.stream.destroyed) break;
        const frame = encodeGrpcFrame(this.encode(message));
        if (!this.headersSent) this.sendHeaders();
        if (!this.stream.write(frame)) await this.drained();
      }
    } catch (err) {
      error = err instanceof ConnectError ? err : new ConnectError("internal error", Code.Internal, undefined, undefined, err);
    }
    const reason: unknown = this.context.signal.reason;
    if (error === undefined && reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) error = reason;
    this.context.abort(error);
    try {
      this.finish(error);
    } catch {
      this.stream.destroy(); // the stream went meanwhile: nothing left to tell the client
    }
  }

  private sendHeaders(): void {
    this.headersSent = true;
    this.stream.respond({ ":status": 200, ...plain(this.context.responseHeader) }, { waitForTrailers: true });
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.stream.off("drain", done);
        this.stream.off("close", done);
        resolve();
      };
      this.stream.on("drain", done);
      this.stream.on("close", done);
    });
  }

  /** Status trailers, or a trailers-only response when nothing was sent; later request data is dropped. */
  private finish(error: ConnectError | undefined): void {
    this.responded = true;
    if (this.paused) this.stream.resume();
    this.queue.length = 0;
    if (this.closed || this.stream.destroyed) return;
    const trailer = setTrailerStatus(new Headers(this.context.responseTrailer), error);
    if (this.headersSent) {
      this.stream.once("wantTrailers", () => this.stream.sendTrailers(plain(trailer)));
      this.stream.end();
    } else {
      this.stream.respond({ ":status": 200, ...plain(this.context.responseHeader), ...plain(trailer) }, { endStream: true });
    }
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function requestHeaders(headers: http2.IncomingHttpHeaders): Headers {
  const h = new Headers();
  for (const key of Object.keys(headers)) {
    if (key.startsWith(":")) continue;
    const value = headers[key];
    if (Array.isArray(value)) for (const v of value) h.append(key, v);
    else if (value !== undefined) h.set(key, value);
  }
  return h;
}

function plain(headers: Headers): Record<string, string> {
  const o: Record<string, string> = {};
  headers.forEach((value, key) => {
    o[key] = value;
  });
  return o;
}
