import os from "node:os";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { isIP } from "node:net";

/**
 * DNS rebinding defence for servers without TLS or tokens: a web page at evil.example whose name is
 * re-pointed at 127.0.0.1 reaches a loopback server from the operator's browser, but its requests
 * carry `Host: evil.example`. Such a server answers only Hosts that cannot be rebound: loopback
 * names (localhost, *.localhost), IP literals (a browser sends those only to a page loaded from
 * that very address) and the names the operator allows (--allow-host).
 */

/** The host part of a Host / :authority value, lower-case, without port or trailing dot; "" when malformed. */
export function hostOf(authority: string): string {
  const value = authority.trim().toLowerCase();
  if (value.startsWith("[")) {
    const end = value.indexOf("]");
    if (end < 0) return "";
    const rest = value.slice(end + 1);
    if (rest !== "" && !/^:\d*$/.test(rest)) return "";
    return value.slice(0, end + 1);
  }
  const colon = value.lastIndexOf(":");
  const host = colon < 0 ? value : value.slice(0, colon);
  if (colon >= 0 && !/^\d*$/.test(value.slice(colon + 1))) return "";
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

/** Whether a request with this host (from hostOf) may reach a server that relies on the Host check. */
export function hostAllowed(host: string, allowHosts: readonly string[]): boolean {
  if (host === "") return false;
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  const literal = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (host.startsWith("[") ? isIP(literal) === 6 : isIP(literal) === 4) return true;
  return allowHosts.some((allowed) => hostOf(allowed) === host);
}

/** Decides from the request headers alone: undefined to serve, else the refused host (for the answer). */
export type HostCheck = (headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders) => string | undefined;

/**
 * The machine's own name is served too: a hive advertises http://<hostname>:port, and a rebinding
 * page needs a name its attacker controls, never the victim machine's.
 */
export function createHostCheck(allowHosts: readonly string[], ownName = os.hostname()): HostCheck {
  const allowed = [...allowHosts, ownName];
  return (headers) => {
    const authority = (headers as http2.IncomingHttpHeaders)[":authority"] ?? headers.host;
    // No Host at all is no rebinding (browsers always send one); node's HTTP/1.1 parser refuses it anyway.
    if (authority === undefined) return undefined;
    return hostAllowed(hostOf(authority), allowed) ? undefined : authority;
  };
}

const GRPC_CONTENT_TYPE = /^application\/grpc(?:\+|;|$)/i;

function refusal(host: string, contentType: string | undefined): { status: number; headers: Record<string, string>; body: string } {
  const message = `host ${JSON.stringify(host)} is not allowed on this server (plaintext without tokens answers loopback names and IP addresses; add the name with --allow-host)`;
  if (GRPC_CONTENT_TYPE.test(contentType ?? "")) {
    // Trailers-only gRPC answer: PERMISSION_DENIED, no message read.
    return { status: 200, headers: { "content-type": "application/grpc", "grpc-status": "7", "grpc-message": encodeURIComponent(message) }, body: "" };
  }
  return { status: 421, headers: { "content-type": "text/plain; charset=utf-8" }, body: `${message}\n` };
}

/** Answers a refused HTTP/1.1 request without reading its body, and closes the connection. */
export function refuseHttp1(res: http.ServerResponse, host: string, contentType: string | undefined): void {
  const { status, headers, body } = refusal(host, contentType);
  res.writeHead(status, { ...headers, connection: "close", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Answers a refused HTTP/2 stream without reading its body. */
export function refuseHttp2(stream: http2.ServerHttp2Stream, host: string, contentType: string | undefined): void {
  const { status, headers, body } = refusal(host, contentType);
  if (body === "") {
    stream.respond({ ":status": status, ...headers }, { endStream: true });
    return;
  }
  stream.respond({ ":status": status, ...headers, "content-length": Buffer.byteLength(body) });
  stream.end(body);
}
