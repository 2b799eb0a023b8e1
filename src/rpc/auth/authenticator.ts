import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as net from "node:net";
import { Code, ConnectError, createContextKey, createContextValues, type ContextValues, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { DenialLog } from "./denial-log.js";
import { describeIdentity, type Identity } from "./identity.js";
import { defaultPermissionOf, describePermission, permits, type Permission, type PermissionOf } from "./policy.js";
import type { TokenStore } from "./token-store.js";

/** What the TLS layer learnt of a connection's client certificate; set on the socket once verified. */
export interface PeerCertificate {
  /** Undefined when the certificate names no apiary SPIFFE ID. */
  identity: Identity | undefined;
  /** The certificate's URI SANs, for messages. */
  uris: string[];
}

/** Symbol property of a TLS socket carrying its PeerCertificate (readable through http2's socket proxy). */
export const PEER_CERTIFICATE = Symbol("apiary.peerCertificate");

export interface Peer {
  address: string;
  certificate: PeerCertificate | undefined;
}

/** The connection a call came on; set for every call. */
export const peerKey = createContextKey<Peer>({ address: "unknown", certificate: undefined }, { description: "apiary peer" });
/** Who made the call; undefined when authentication is off (plaintext on loopback). */
export const callerKey = createContextKey<Identity | undefined>(undefined, { description: "apiary caller identity" });
/** True when the request gate authorised the call from its headers (the interceptor then does not again). */
const gateAuthorizedKey = createContextKey<boolean>(false, { description: "apiary call authorised by the request gate" });

/** A call the authenticator refused: who tried (the peer, its identity if it proved one), what, and why. */
export interface Refusal {
  peer: Peer;
  /** Set when the caller proved an identity that lacks the permission (PERMISSION_DENIED). */
  identity: Identity | undefined;
  service: string;
  method: string;
  code: Code.Unauthenticated | Code.PermissionDenied;
  message: string;
}

export interface AuthenticatorOptions {
  /** false: every call is allowed (plaintext on loopback, or --insecure without credentials). */
  enabled: boolean;
  tokens?: TokenStore;
  logger: Logger;
  /** The permission each method needs (the server's table); default policy.ts's defaultPermissionOf. */
  permissionOf?: PermissionOf;
}

export type AuthResult = { ok: true; identity: Identity | undefined } | { ok: false; code: Code.Unauthenticated | Code.PermissionDenied; message: string };

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;

/** Who a peer is (client certificate or bearer token) and whether it may call a method. */
export class Authenticator {
  readonly enabled: boolean;
  private readonly tokens: TokenStore | undefined;
  private readonly denials: DenialLog;
  readonly permissionOf: PermissionOf;
  private readonly refusalListeners: ((refusal: Refusal) => void)[] = [];
  /** The gate's decisions, by request (HTTP/1.1) or stream (HTTP/2), until the call's context is made. */
  private readonly gateDecisions = new WeakMap<object, Identity | undefined>();

  constructor(opts: AuthenticatorOptions) {
    this.enabled = opts.enabled;
    this.tokens = opts.tokens;
    this.denials = new DenialLog(opts.logger);
    this.permissionOf = opts.permissionOf ?? defaultPermissionOf;
  }

  /**
   * For connectNodeAdapter's contextValues (and the raw HTTP/2 handlers, with the stream): the peer
   * of a node request, and the caller the request gate admitted it as.
   */
  readonly contextValues = (req: NodeRequest | { socket: net.Socket; stream: http2.ServerHttp2Stream }): ContextValues => {
    const values = createContextValues().set(peerKey, peerOf(req));
    const key = "stream" in req && req.stream ? req.stream : req;
    if (this.gateDecisions.has(key)) values.set(gateAuthorizedKey, true).set(callerKey, this.gateDecisions.get(key));
    return values;
  };

  /** Told of every refused call to a method (not of HTTP routes nor rejected certificates). */
  onRefusal(listener: (refusal: Refusal) => void): void {
    this.refusalListeners.push(listener);
  }

  /**
   * Identifies the caller and checks `permission`; logs a denial once per peer and reason, and
   * tells the refusal listeners when `call` names the method.
   */
  authorize(peer: Peer, authorization: string | null, permission: Permission, call?: { service: string; method: string }): AuthResult {
    if (!this.enabled || permission === "public") return { ok: true, identity: undefined };
    const who = this.identify(peer, authorization);
    if (!who.ok) return this.deny(peer, who, undefined, call);
    if (!permits(who.identity, permission)) {
      const message = `${describeIdentity(who.identity)} may not do this: it needs ${describePermission(permission)}`;
      return this.deny(peer, { ok: false, code: Code.PermissionDenied, message }, who.identity, call);
    }
    return who;
  }

  /**
   * The request gate authorised `request` (an HTTP/1.1 request or an HTTP/2 stream) as `identity`:
   * its call's context carries that, and the interceptor does not authorise it again.
   */
  admitted(request: object, identity: Identity | undefined): void {
    this.gateDecisions.set(request, identity);
  }

  /** Connect interceptor: authorises the calls the request gate did not (none on this server's own listener). */
  readonly interceptor: Interceptor = (next) => async (req) => {
    if (req.contextValues.get(gateAuthorizedKey)) return next(req);
    const peer = req.contextValues.get(peerKey);
    const call = { service: req.service.typeName, method: req.method.name };
    const result = this.authorize(peer, req.header.get("authorization"), this.permissionOf(call.service, call.method), call);
    if (!result.ok) throw new ConnectError(result.message, result.code);
    req.contextValues.set(callerKey, result.identity);
    return next(req);
  };

  /**
   * For plain HTTP routes on the same port (/metrics, the dashboard): the same identities and
   * roles. Answers 401 or 403 with a message, or ok.
   */
  authenticateHttpRequest(req: NodeRequest, permission: Permission = "read"): { ok: true; identity: Identity | undefined } | { ok: false; status: 401 | 403; message: string } {
    const header = req.headers.authorization;
    const result = this.authorize(peerOf(req), typeof header === "string" ? header : null, permission);
    if (result.ok) return result;
    return { ok: false, status: result.code === Code.Unauthenticated ? 401 : 403, message: result.message };
  }

  private identify(peer: Peer, authorization: string | null): { ok: true; identity: Identity } | Extract<AuthResult, { ok: false }> {
    if (authorization !== null) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match) return unauthenticated("authorization header: expected \"Bearer TOKEN\"");
      const identity = this.tokens?.identify(match[1]);
      if (!identity) return unauthenticated("bearer token not recognised");
      return { ok: true, identity };
    }
    const cert = peer.certificate;
    if (cert?.identity) return { ok: true, identity: cert.identity };
    if (cert) return unauthenticated(`client certificate names no apiary identity (URI SANs: ${cert.uris.join(", ") || "none"})`);
    return unauthenticated("no credentials: present a client certificate or a bearer token");
  }

  /** A refusal outside any call (a rejected client certificate), logged once per peer and reason. */
  recordDenial(address: string, reason: string): void {
    this.denials.denied(address, reason);
  }

  /** A refusal found after authorisation (e.g. a first message that contradicts the identity), logged once per peer and reason. */
  recordCallDenial(address: string, reason: string, code: Code): void {
    this.denials.denied(address, reason, { code: Code[code] });
  }

  private deny(peer: Peer, result: Extract<AuthResult, { ok: false }>, identity: Identity | undefined, call: { service: string; method: string } | undefined): AuthResult {
    this.denials.denied(peer.address, result.message, { code: Code[result.code] });
    if (call) for (const listener of this.refusalListeners) listener({ peer, identity, ...call, code: result.code, message: result.message });
    return result;
  }
}

function unauthenticated(message: string): Extract<AuthResult, { ok: false }> {
  return { ok: false, code: Code.Unauthenticated, message };
}

function peerOf(req: { socket: net.Socket }): Peer {
  return peerOfSocket(req.socket);
}

/** The peer of a connection (for an HTTP/2 stream: its session's socket). */
export function peerOfSocket(connection: net.Socket): Peer {
  const socket = connection as net.Socket & { [PEER_CERTIFICATE]?: PeerCertificate };
  return { address: `${socket.remoteAddress ?? "unknown"}`, certificate: socket[PEER_CERTIFICATE] };
}
