import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import type { pino } from "pino";
import { sniffProtocol } from "./protocol-sniffer.js";
import type { NodeHandler } from "./rpc-handler.js";

const HTTP2_SETTINGS: http2.Settings = {
  initialWindowSize: 1024 * 1024,
  maxHeaderListSize: 64 * 1024,
};

export interface ListenerOptions {
  host: string;
  port: number;
  logger: pino.Logger;
  /** TLS (h2 and http/1.1 by ALPN); absent: plain TCP, the protocol sniffed from the first bytes. */
  tls?: { options: tls.SecureContextOptions; requestCert: boolean };
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  maxStreamsPerConnection: number;
  /** Aborted when the server starts closing: new sessions close, HTTP/1.1 answers say Connection: close. */
  shutdownSignal: AbortSignal;
  /** False refuses the TCP connection (the caps); the callee destroyed it. */
  admitConnection(socket: net.Socket): boolean;
  /** False when the TLS socket was ended after the handshake (a bad client certificate). */
  acceptTlsSocket(socket: tls.TLSSocket): boolean;
  /** Before `handler` for every HTTP/1.1 request: false when it answered the request itself. */
  admitHttp1(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** Before node's compatibility layer (and so `handler`) for every HTTP/2 stream: true when it took the stream. */
  takeHttp2Stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, socket: net.Socket): boolean;
  handler: NodeHandler;
}

export interface Listener {
  readonly port: number;
  readonly url: string;
  /** New connections use these; open ones keep theirs. TLS listeners only. */
  setSecureContext(options: tls.SecureContextOptions): void;
  /** Stops accepting, lets open calls finish for graceMs, then cuts what is left. */
  close(graceMs: number): Promise<void>;
}

/**
 * One TCP port for every protocol: TLS with ALPN, or plain TCP sniffed for the HTTP/2 preface;
 * HTTP/2 sessions (idle timeout, stream cap) and HTTP/1.1 (header and request timeouts) servers
 * that never listen themselves, fed the sockets this listener accepted.
 */
export async function startListener(o: ListenerOptions): Promise<Listener> {
  const { logger } = o;
  const sockets = new Set<net.Socket>();
  const h2 = createHttp2(o);
  const h1 = createHttp1(o);

  const dispatch = (socket: net.Socket, protocol: "http2" | "http1"): void => {
    if (protocol === "http2") h2.server.emit("connection", socket);
    else h1.accept(socket);
  };
  const sniffThenDispatch = (socket: net.Socket): void => sniffProtocol(socket, o.headersTimeoutMs, (protocol) => dispatch(socket, protocol));
  const track = (socket: net.Socket): boolean => {
    if (!o.admitConnection(socket)) return false;
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", (err) => logger.debug({ err }, "connection error"));
    return true;
  };

  let tcp: net.Server;
  if (o.tls) {
    const secure = tls.createServer({
      ...o.tls.options,
      ALPNProtocols: ["h2", "http/1.1"],
      requestCert: o.tls.requestCert,
      // Verified by acceptTlsSocket: a connection without a certificate may still carry a bearer token.
      rejectUnauthorized: false,
      handshakeTimeout: o.headersTimeoutMs,
    });
    secure.on("connection", track);
    secure.on("tlsClientError", (err) => logger.debug({ err: err.message }, "tls handshake failed"));
    secure.on("secureConnection", (socket: tls.TLSSocket) => {
      socket.on("error", (err) => logger.debug({ err }, "tls connection error"));
      if (!o.acceptTlsSocket(socket)) return;
      if (socket.alpnProtocol === "h2") dispatch(socket, "http2");
      else if (socket.alpnProtocol === "http/1.1") dispatch(socket, "http1");
      else sniffThenDispatch(socket);
    });
    tcp = secure;
  } else {
    tcp = net.createServer((socket) => {
      if (track(socket)) sniffThenDispatch(socket);
    });
  }

  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(o.port, o.host, () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  tcp.on("error", (err) => logger.error({ err }, "rpc server error"));
  const port = (tcp.address() as net.AddressInfo).port;
  const url = `${o.tls ? "https" : "http"}://${o.host.includes(":") ? `[${o.host}]` : o.host}:${port}`;

  return {
    port,
    url,
    setSecureContext: (options) => (tcp as tls.Server).setSecureContext(options),
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        const graceTimer = setTimeout(() => {
          if (sockets.size > 0) logger.warn({ connections: sockets.size }, "grace period over, closing connections");
          h2.destroyAll();
          for (const socket of sockets) socket.destroy();
        }, graceMs);
        tcp.close(() => {
          clearTimeout(graceTimer);
          h1.server.close(); // stops its timeout checks
          resolve();
        });
        h2.closeAll();
        h1.endIdle();
      }),
  };
}

function createHttp2(o: ListenerOptions) {
  const { logger, shutdownSignal } = o;
  const sessions = new Set<http2.ServerHttp2Session>();
  const openStreams = new Map<http2.Http2Session, number>();
  const server = http2.createServer({ settings: { ...HTTP2_SETTINGS, maxConcurrentStreams: o.maxStreamsPerConnection } }, o.handler);
  server.on("session", (session) => {
    sessions.add(session);
    openStreams.set(session, 0);
    session.once("close", () => (sessions.delete(session), openStreams.delete(session)));
    // Fires after idleTimeoutMs without traffic; a quiet session that still has streams is not idle.
    session.setTimeout(o.idleTimeoutMs, () => {
      if ((openStreams.get(session) ?? 0) === 0) session.close();
    });
    if (shutdownSignal.aborted) session.close();
  });
  server.on("sessionError", (err) => logger.debug({ err }, "http2 session error"));
  putInFrontOfCompat(server, o.takeHttp2Stream, logger);
  server.on("stream", (stream: http2.ServerHttp2Stream) => {
    const session = stream.session;
    if (!session || !openStreams.has(session)) return;
    openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
    stream.once("close", () => {
      if (openStreams.has(session)) openStreams.set(session, (openStreams.get(session) ?? 1) - 1);
    });
  });
  return {
    server,
    closeAll: () => {
      for (const session of sessions) session.close();
    },
    destroyAll: () => {
      for (const session of sessions) session.destroy();
    },
  };
}

/**
 * Puts `take` in front of the server's own "stream" listener (node's compatibility layer, which
 * feeds connect-node and the HTTP routes): every HTTP/2 stream passes here first.
 */
function putInFrontOfCompat(h2: http2.Http2Server, take: ListenerOptions["takeHttp2Stream"], logger: pino.Logger): void {
  const compat = h2.listeners("stream") as ((...args: unknown[]) => void)[];
  h2.removeAllListeners("stream");
  h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
    // A session that dies under its streams (a client's protocol error, many streams abandoned at
    // once) emits 'error' on each of them; one without a listener would end the process.
    stream.on("error", ignoreStreamError);
    const socket = stream.session?.socket;
    if (!socket || stream.destroyed) {
      stream.destroy();
      return;
    }
    try {
      if (take(stream, headers, socket as net.Socket)) return;
    } catch (err) {
      // A defect in a handler costs its stream, never the process.
      logger.error({ err, path: headers[":path"] }, "http2 stream handler failed");
      stream.destroy();
      return;
    }
    for (const listener of compat) listener.call(h2, stream, headers, ...rest);
  });
}

function ignoreStreamError(): void {}

function createHttp1(o: ListenerOptions) {
  const { logger, shutdownSignal } = o;
  // http.Server tracks idle connections only when it listens itself; this one does not.
  const busy = new Map<net.Socket, number>();
  const endIfIdle = (socket: net.Socket): void => {
    if (shutdownSignal.aborted && (busy.get(socket) ?? 0) === 0) socket.end();
  };
  const server = http.createServer({
    headersTimeout: o.headersTimeoutMs,
    requestTimeout: o.requestTimeoutMs,
    keepAliveTimeout: 5_000,
    // How often node looks for requests past those timeouts.
    connectionsCheckingInterval: Math.min(30_000, Math.max(10, o.headersTimeoutMs / 4)),
  }, (req, res) => {
    const socket = req.socket;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    if (shutdownSignal.aborted) res.setHeader("Connection", "close");
    res.once("close", () => {
      const count = busy.get(socket);
      if (count === undefined) return;
      busy.set(socket, count - 1);
      endIfIdle(socket);
    });
    if (o.admitHttp1(req, res)) o.handler(req, res);
  });
  // The timeouts above are enforced only once the server saw "listening"; this one never listens itself.
  server.emit("listening");
  server.on("clientError", (err, socket) => {
    logger.debug({ err }, "http/1.1 client error");
    socket.destroy();
  });
  return {
    server,
    accept(socket: net.Socket): void {
      busy.set(socket, 0);
      socket.once("close", () => busy.delete(socket));
      server.emit("connection", socket);
      socket.resume(); // the sniffer paused it; http.Server only attaches a "data" listener
    },
    endIdle(): void {
      for (const socket of busy.keys()) endIfIdle(socket);
    },
  };
}
