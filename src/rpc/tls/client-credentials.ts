import { readFileSync, statSync } from "node:fs";
import { serverIdentityCheck, type ExpectedServer } from "./verify-server-identity.js";

/** TLS and token settings of a client, as files (flags, contexts) or contents (tests, embedding). */
export interface ClientCredentials {
  /** PEM CA bundle to verify the server with; default: the system's trust store. */
  caFile?: string;
  ca?: string | Buffer;
  /** Client certificate and key (PEM), for mutual TLS. */
  certFile?: string;
  cert?: string | Buffer;
  keyFile?: string;
  key?: string | Buffer;
  /** Bearer token sent with every call. */
  token?: string;
  /** Name to verify the server certificate against when it is not the URL's host. */
  serverName?: string;
  /** The SPIFFE ID the server's certificate must name (verify-server-identity.ts); unset: its host name. */
  expectServer?: ExpectedServer;
}

/** True when the settings ask for TLS (a CA, or a client certificate). */
export function wantsTls(c: ClientCredentials | undefined): boolean {
  return c !== undefined && [c.caFile, c.ca, c.certFile, c.cert, c.keyFile, c.key].some((v) => v !== undefined);
}

/** A file re-read when its modification time or size changes, so rotated client certificates apply to new connections. */
class WatchedFile {
  private stamp = "";
  private content: Buffer | undefined;

  constructor(
    private readonly file: string,
    private readonly what: string,
  ) {
    this.read();
  }

  read(): Buffer {
    let stamp: string;
    try {
      const st = statSync(this.file);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
      if (stamp === this.stamp && this.content) return this.content;
      this.content = readFileSync(this.file);
    } catch (err) {
      if (this.content) return this.content; // keep the last good one during a replace
      throw new Error(`${this.what} ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    this.stamp = stamp;
    return this.content;
  }
}

/**
 * node:tls options for a client: an object whose ca/cert/key getters return the files' current
 * contents, read again (when changed) for every new connection.
 */
export function clientTlsOptions(c: ClientCredentials): {
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
  servername?: string;
  checkServerIdentity?: ReturnType<typeof serverIdentityCheck>;
} {
  if ((c.certFile ?? c.cert) !== undefined && (c.keyFile ?? c.key) === undefined) throw new Error("client certificate given without its key");
  if ((c.keyFile ?? c.key) !== undefined && (c.certFile ?? c.cert) === undefined) throw new Error("client key given without its certificate");
  const source = (file: string | undefined, value: string | Buffer | undefined, what: string): (() => Buffer | string) | undefined => {
    if (file !== undefined) {
      const watched = new WatchedFile(file, what);
      return () => watched.read();
    }
    return value === undefined ? undefined : () => value;
  };
  const ca = source(c.caFile, c.ca, "CA file");
  const cert = source(c.certFile, c.cert, "client certificate");
  const key = source(c.keyFile, c.key, "client key");
  const options: Record<string, unknown> = {};
  if (ca) Object.defineProperty(options, "ca", { get: ca, enumerable: true });
  if (cert) Object.defineProperty(options, "cert", { get: cert, enumerable: true });
  if (key) Object.defineProperty(options, "key", { get: key, enumerable: true });
  if (c.serverName) options.servername = c.serverName;
  if (c.expectServer) options.checkServerIdentity = serverIdentityCheck(c.expectServer, ca === undefined);
  return options;
}
