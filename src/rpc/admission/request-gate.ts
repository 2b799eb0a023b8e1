import type * as http from "node:http";
import type * as net from "node:net";

import type { DescService } from "@bufbuild/protobuf";
import { peerOfSocket, type Authenticator } from "../auth/authenticator.js";
import type { EarlyRefusal } from "./early-refusal.js";
import { singleHeader, type HeaderCheck } from "./header-check.js";
import type { PerPeerStreamCaps } from "./per-peer-stream-caps.js";

/** What the gate decided: go on (and call release when the request ends), or answer this refusal. */
export type GateDecision = { admitted: true; release: () => void } | { admitted: false; refusal: EarlyRefusal };

/**
 * Decides from a request's headers and its connection, before any handler runs or any body byte is
 * read, whether an RPC may proceed: authentication and the method's permission, the server
 * owner's header check (header-check.ts), then the per-peer caps on long-lived streams. Paths that are not RPCs of this server (HTTP routes, unknown paths)
 * are left alone: their own handlers decide.
 */
export class RequestGate {
  private readonly methods = new Map<string, { service: string; method: string }>();

  constructor(
    services: readonly DescService[],
    private readonly auth: Authenticator,
    private readonly caps: PerPeerStreamCaps,
    private readonly headerCheck?: HeaderCheck,
  ) {
    for (const service of services) {
      for (const method of service.methods) this.methods.set(`/${service.typeName}/${method.name}`, { service: service.typeName, method: method.name });
    }
  }

  /**
   * `request` (the HTTP/1.1 request, or the HTTP/2 stream) carries an admitted call's identity to
   * its handler context, so the authenticator's interceptor does not authorise it a second time.
   */
  check(path: string, headers: http.IncomingHttpHeaders, socket: net.Socket, request?: object): GateDecision {
    const rpc = this.methods.get(path);
    if (rpc === undefined) return { admitted: true, release: noop };
    const peer = peerOfSocket(socket);
    if (this.auth.enabled) {
      const result = this.auth.authorize(peer, singleHeader(headers, "authorization") ?? null, this.auth.permissionOf(rpc.service, rpc.method), rpc);
      if (!result.ok) return { admitted: false, refusal: { code: result.code, message: result.message } };
      if (request !== undefined) this.auth.admitted(request, result.identity);
    }
    const refused = this.headerCheck?.({ ...rpc, headers, peer });
    if (refused !== undefined) return { admitted: false, refusal: refused };
    const capped = this.caps.admit(path, peer.address);
    if (typeof capped !== "function") return { admitted: false, refusal: capped };
    return { admitted: true, release: capped };
  }
}

/** The path of a request URL, without its query (Connect GET requests carry one). */
export function pathOfUrl(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

const noop = (): void => undefined;

