import { connect, type Socket } from "node:net";

// HTTP/2 written by hand, so a test can be the client no library lets it be: one that never
// reads, resets streams as fast as it opens them, lies in frame headers or sends garbage.

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, WINDOW_UPDATE: 8 } as const;
const PING_ACK = 1;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;
const CANCEL = 0x8;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0), claimedLength = payload.length): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(claimedLength, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK: literal header fields without indexing, new names, no Huffman (lengths under 127). */
function hpack(headers: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    parts.push(Buffer.from([0x00, name.length]), Buffer.from(name, "latin1"), Buffer.from([value.length]), Buffer.from(value, "latin1"));
  }
  return Buffer.concat(parts);
}

/** The client preface, SETTINGS with the largest window, an ACK of the server's SETTINGS sent blind, and the widest connection window. */
export function hello(): Buffer {
  const settings = Buffer.alloc(6);
  settings.writeUInt16BE(0x4, 0); // SETTINGS_INITIAL_WINDOW_SIZE
  settings.writeUInt32BE(0x7fffffff, 2);
  const increment = Buffer.alloc(4);
  increment.writeUInt32BE(0x7fffffff - 65_535, 0);
  return Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0, settings), frame(FRAME.SETTINGS, ACK, 0), frame(FRAME.WINDOW_UPDATE, 0, 0, increment)]);
}

/** How a streaming call is framed: gRPC (the raw fast path), and what connect-node serves instead. */
export const STREAMING_PROTOCOLS = {
  grpc: [["content-type", "application/grpc"], ["te", "trailers"]],
  "grpc-gzip": [["content-type", "application/grpc"], ["te", "trailers"], ["grpc-encoding", "gzip"]],
  "grpc-web": [["content-type", "application/grpc-web+proto"]],
  connect: [["content-type", "application/connect+proto"], ["connect-protocol-version", "1"]],
} as const satisfies Record<string, readonly (readonly [string, string])[]>;
export type StreamingProtocol = keyof typeof STREAMING_PROTOCOLS;

/** A streaming call on `streamId`: HEADERS then one DATA frame with the (already encoded) request message in an uncompressed envelope. */
export function grpcCall(streamId: number, path: string, authority: string, message: Uint8Array = new Uint8Array(), protocol: StreamingProtocol = "grpc"): Buffer {
  const headers = hpack([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", authority],
    ...STREAMING_PROTOCOLS[protocol],
  ]);
  const body = Buffer.alloc(5 + message.length);
  body.writeUInt32BE(message.length, 1);
  body.set(message, 5);
  return Buffer.concat([frame(FRAME.HEADERS, END_HEADERS, streamId, headers), frame(FRAME.DATA, END_STREAM, streamId, body)]);
}

export function rstStream(streamId: number): Buffer {
  const code = Buffer.alloc(4);
  code.writeUInt32BE(CANCEL, 0);
  return frame(FRAME.RST_STREAM, 0, streamId, code);
}

/** A TCP connection to host:port, resolved once connected. */
export function rawConnect(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => resolve(socket));
    socket.once("error", reject);
  });
}

/**
 * Socket-level garbage, each on its own connection from `open`: a 16 MiB frame header, DATA on an
 * idle stream, bad HPACK, an HTTP/1.1 request with a 70 kB header, and seeded random bytes with and
 * without the HTTP/2 preface.
 */
export async function writeGarbage(open: () => Promise<Socket>, seed: number): Promise<void> {
  (await open()).write(Buffer.concat([hello(), frame(FRAME.DATA, 0, 1, Buffer.alloc(1024, 0xab), 0xffffff)]));
  (await open()).write(Buffer.concat([hello(), frame(FRAME.DATA, 0, 41, Buffer.alloc(64))]));
  (await open()).write(Buffer.concat([hello(), frame(FRAME.HEADERS, 0x4, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0xbe]))]));
  (await open()).write(Buffer.from("GET / HTTP/1.1\r\nHost: " + "x".repeat(70_000) + "\r\n\r\n"));
  let s = seed;
  const bytes = Buffer.alloc(256 * 1024, 0).map(() => (s = (s * 1103515245 + 12345) & 0x7fffffff) & 0xff);
  (await open()).write(bytes);
  (await open()).write(Buffer.concat([PREFACE, bytes]));
}

/** A PING with this 8-byte payload: its ACK says the server has processed every frame sent before it. */
export function ping(payload: Buffer): Buffer {
  return frame(FRAME.PING, 0, 0, payload);
}

export /** Resolves when the server acknowledges the PING with this payload: it has processed every frame sent before it. */
function pingAcked(s: Socket, payload: Buffer): Promise<void> {
  let buf = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    s.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 9) {
        const length = buf.readUIntBE(0, 3);
        if (buf.length < 9 + length) break;
        if (buf[3] === FRAME.PING && (buf[4] & PING_ACK) !== 0 && buf.subarray(9, 9 + length).equals(payload)) resolve();
        buf = buf.subarray(9 + length);
      }
    });
    s.once("close", () => reject(new Error("connection closed before the PING ACK")));
  });
}
