import type * as net from "node:net";

/** Start of the HTTP/2 connection preface a client sends with prior knowledge (h2c). */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");

export type WireProtocol = "http2" | "http1";

/**
 * Reads the first bytes of a connection and tells whether it speaks HTTP/2 with prior
 * knowledge or HTTP/1.x, then puts the bytes back so the chosen server reads them.
 * A connection that sends nothing within timeoutMs, or closes first, is destroyed.
 */
export function sniffProtocol(
  socket: net.Socket,
  timeoutMs: number,
  onProtocol: (protocol: WireProtocol) => void,
): void {
  let received = Buffer.alloc(0);
  const timer = setTimeout(() => finish(), timeoutMs);
  timer.unref();

  const onData = (chunk: Buffer): void => {
    received = Buffer.concat([received, chunk]);
    const compared = Math.min(received.length, HTTP2_PREFACE.length);
    const isPrefix = received.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared));
    if (!isPrefix) finish("http1");
    else if (compared === HTTP2_PREFACE.length) finish("http2");
  };
  const onEnd = (): void => finish();

  function finish(protocol?: WireProtocol): void {
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("end", onEnd);
    socket.off("close", onEnd);
    socket.off("error", onEnd);
    if (!protocol) {
      socket.destroy();
      return;
    }
    socket.pause();
    socket.unshift(received);
    onProtocol(protocol);
  }

  socket.on("data", onData);
  socket.once("end", onEnd);
  socket.once("close", onEnd);
  socket.once("error", onEnd);
}
