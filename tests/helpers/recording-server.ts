import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";

/**
 * A listener on loopback that stands in for a server an attacker controls: it records every
 * connection and the Authorization header of every request that reaches it, and answers each
 * with gRPC UNIMPLEMENTED. Plaintext h2c, or TLS with the certificate and key given.
 */
export class RecordingServer {
  /** TCP connections accepted. */
  connections = 0;
  /** Requests (HTTP/2 streams) received, with their paths. */
  readonly paths: string[] = [];
  /** Authorization headers seen (one per request that carried one). */
  readonly authorizations: string[] = [];
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  private constructor(
    private readonly server: http2.Http2Server | http2.Http2SecureServer,
    readonly url: string,
  ) {}

  static async start(tls?: { cert: string | Buffer; key: string | Buffer }): Promise<RecordingServer> {
    const server = tls ? http2.createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: true }) : http2.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const recorder = new RecordingServer(server, `${tls ? "https" : "http"}://127.0.0.1:${port}`);
    server.on("connection", () => recorder.connections++);
    server.on("session", (session) => {
      recorder.sessions.add(session);
      session.once("close", () => recorder.sessions.delete(session));
    });
    server.on("stream", (stream, headers) => {
      recorder.paths.push(String(headers[":path"]));
      if (headers.authorization !== undefined) recorder.authorizations.push(String(headers.authorization));
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12", "grpc-message": "recording server" }, { endStream: true });
    });
    return recorder;
  }

  /** Requests that reached it, in any form: what an attack must leave at zero. */
  get requests(): number {
    return this.paths.length;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const session of this.sessions) session.destroy();
    });
  }
}
