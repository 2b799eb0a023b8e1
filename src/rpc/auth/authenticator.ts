import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as net from "node:net";
import { Code, ConnectError, createContextKey, createContextValues, type ContextValues, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { HeartbeatRequest } from "../../../gen/apiary/v1/queen_pb.js";
import { DenialLog } from "./denial-log.js";
import { describeIdentity, type Identity } from "./identity.js";
import { describePermission, permits, requiredPermission, type Permission } from "./policy.js";
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

export interface AuthenticatorOptions {
  /** false: every call is allowed (plaintext on loopback, or --insecure without credentials). */
  enabled: boolean;
  tokens?: TokenStore;
  logger: Logger;
  /** The permission each method needs; default requiredPermission. */
  permissionOf?: (serviceTypeName: string, methodName: string) => Permission;
}

export type AuthResult = { ok: true; identity: Identity | undefined } | { ok: false; code: Code.Unauthenticated | Code.PermissionDenied; message: string };

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;

/** Who a peer is (client certificate or bearer token) and whether it may call a method. */
export class Authenticator {
  readonly enabled: boolean;
  private readonly tokens: TokenStore | undefined;
  private readonly denials: DenialLog;
  readonly permissionOf: (serviceTypeName: string, methodName: string) => Permission;

  constructor(opts: AuthenticatorOptions) {
    this.enabled = opts.enabled;
    this.tokens = opts.tokens;
    this.denials = new DenialLog(opts.logger);
    this.permissionOf = opts.permissionOf ?? requiredPermission;
  }

  /** For connectNodeAdapter's contextValues: the peer of a node request. */
  readonly contextValues = (req: NodeRequest): ContextValues => createContextValues().set(peerKey, peerOf(req));

  /** Identifies the caller and checks `permission`; logs a denial once per peer and reason. */
  authorize(peer: Peer, authorization: string | null, permission: Permission): AuthResult {
    if (!this.enabled || permission === "public") return { ok: true, identity: undefined };
    const who = this.identify(peer, authorization);
    if (!who.ok) return this.deny(peer, who);
    if (!permits(who.identity, permission)) {
      return this.deny(peer, {
        ok: false,
        code: Code.PermissionDenied,
        message: `${describeIdentity(who.identity)} may not do this: it needs ${describePermission(permission)}`,
      });
    }
    return who;
  }

  /** Connect interceptor: every call is authorised before its handler runs; Heartbeat hellos are checked. */
  readonly interceptor: Interceptor = (next) => async (req) => {
    const peer = req.contextValues.get(peerKey);
    const permission = this.permissionOf(req.service.typeName, req.method.name);
    const result = this.authorize(peer, req.header.get("authorization"), permission);
    if (!result.ok) throw new ConnectError(result.message, result.code);
    req.contextValues.set(callerKey, result.identity);
    if (permission === "hive" && req.stream && result.identity) {
      return next({ ...req, message: this.checkHello(req.message as AsyncIterable<HeartbeatRequest>, result.identity, peer) } as typeof req);
    }
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

  private deny(peer: Peer, result: Extract<AuthResult, { ok: false }>): AuthResult {
    this.denials.denied(peer.address, result.message, { code: Code[result.code] });
    return result;
  }

  /** The stream with its first message (the hello) checked against the certificate; later messages pass straight through. */
  private checkHello(messages: AsyncIterable<HeartbeatRequest>, identity: Identity, peer: Peer): AsyncIterable<HeartbeatRequest> {
    return {
      [Symbol.asyncIterator]: () => {
        const it = messages[Symbol.asyncIterator]();
        let first = true;
        return {
          next: async () => {
            const result = await it.next();
            if (first && !result.done) {
              first = false;
              const message = result.value;
              const said = message.kind.case === "hello" ? (message.kind.value.hive?.hiveId ?? "") : identity.name;
              if (said !== identity.name) {
                const text = `heartbeat: hello says hive_id ${JSON.stringify(said)} but the certificate names hive ${JSON.stringify(identity.name)}`;
                this.denials.denied(peer.address, text, { code: "PermissionDenied" });
                throw new ConnectError(text, Code.PermissionDenied);
              }
            }
            return result;
          },
          return: (value?: unknown) => (it.return ? it.return(value) : Promise.resolve({ done: true as const, value: undefined })) as Promise<IteratorResult<HeartbeatRequest>>,
        };
      },
    };
  }
}

function unauthenticated(message: string): Extract<AuthResult, { ok: false }> {
  return { ok: false, code: Code.Unauthenticated, message };
}

function peerOf(req: NodeRequest): Peer {
  return peerOfSocket(req.socket);
}

/** The peer of a connection (for an HTTP/2 stream: its session's socket). */
export function peerOfSocket(connection: net.Socket): Peer {
  const socket = connection as net.Socket & { [PEER_CERTIFICATE]?: PeerCertificate };
  return { address: `${socket.remoteAddress ?? "unknown"}`, certificate: socket[PEER_CERTIFICATE] };
}
