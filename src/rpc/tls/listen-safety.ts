import * as net from "node:net";

/** 127.0.0.0/8, ::1 and "localhost": addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost" || h === "::1") return true;
  if (net.isIPv4(h)) return h.startsWith("127.");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped !== null && mapped[1].startsWith("127.");
}

export interface ListenSecurity {
  host: string;
  tls: boolean;
  /** Client certificates verified (a client CA) or bearer tokens configured. */
  clientAuth: boolean;
  insecure: boolean;
}

/** Thrown when a server would listen where others can reach it without TLS and client authentication. */
export class InsecureListenError extends Error {}

/**
 * Plaintext, or TLS without client authentication, is allowed on loopback only; elsewhere it needs
 * `insecure`. Returns a warning to log when `insecure` is what lets it start.
 */
export function checkListenSecurity(s: ListenSecurity): string | undefined {
  if (isLoopbackHost(s.host)) return undefined;
  let problem: string | undefined;
  if (!s.tls) problem = "without TLS: give --tls-cert, --tls-key and --client-ca (or --token-file)";
  else if (!s.clientAuth) problem = "without client authentication: give --client-ca or --token-file";
  if (problem === undefined) return undefined;
  if (!s.insecure) throw new InsecureListenError(`refusing to listen on ${s.host} ${problem}, or --insecure to accept the risk`);
  return `listening on ${s.host} ${problem.replace(/: give.*/, "")} (--insecure): anyone who reaches this port can call every RPC`;
}
