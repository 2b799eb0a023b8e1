import { Code, ConnectError } from "@connectrpc/connect";

/** etcd could not be reached (every endpoint failed) within the client's retry budget. */
export class EtcdUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EtcdUnavailableError";
  }
}

/** A watch asked for history etcd has compacted away. */
export class EtcdCompactedError extends Error {
  constructor(readonly compactRevision: number) {
    super(`etcd history compacted up to revision ${compactRevision}`);
    this.name = "EtcdCompactedError";
  }
}

/** The client was closed while the call was pending. */
export class EtcdClosedError extends Error {
  constructor() {
    super("etcd client closed");
    this.name = "EtcdClosedError";
  }
}

// etcd's own messages (etcdserver/api/v3rpc/rpctypes/error.go, v3.4).
const LEADER_TROUBLE = ["etcdserver: no leader", "etcdserver: leader changed", "etcdserver: request timed out", "etcdserver: not capable"];
const TOKEN_TROUBLE = ["etcdserver: invalid auth token", "etcdserver: auth token is expired", "auth: invalid auth token"];

/**
 * Worth another try, perhaps on another member: the member is down or unreachable, it has no leader,
 * the leader changed under the request, or the call ran past its deadline (a stopped member).
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof EtcdClosedError) return false;
  const ce = ConnectError.from(err);
  // Canceled here is the member's doing (RST_STREAM CANCEL as it dies): the client's own aborts are checked first.
  if (ce.code === Code.Unavailable || ce.code === Code.DeadlineExceeded || ce.code === Code.Aborted || ce.code === Code.Canceled) return true;
  // The connection broke under the call (reset, GOAWAY, an HTTP/2 session error).
  if ((ce.code === Code.Unknown || ce.code === Code.Internal) && /ECONNREFUSED|ECONNRESET|EPIPE|socket hang up|GOAWAY|(stream|session) closed with error code/i.test(ce.rawMessage)) return true;
  return LEADER_TROUBLE.some((m) => ce.rawMessage.includes(m));
}

/** The auth token is no longer accepted: authenticate again and retry once. */
export function isTokenRejected(err: unknown): boolean {
  const ce = ConnectError.from(err);
  return TOKEN_TROUBLE.some((m) => ce.rawMessage.includes(m));
}
