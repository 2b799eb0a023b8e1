import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as net from "node:net";
import type * as tls from "node:tls";
import type { pino } from "pino";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import * as reflectionV1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as reflectionV1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { ConnectionLimits } from "./admission/connection-limits.js";
import { refuseHttp1Request, refuseHttp2Stream } from "./admission/early-refusal.js";
import { PerPeerStreamCaps } from "./admission/per-peer-stream-caps.js";
import { pathOfUrl, RequestGate } from "./admission/request-gate.js";
import { Authenticator, PEER_CERTIFICATE, type PeerCertificate } from "./auth/authenticator.js";
import { identityFromSans, uriSans } from "./auth/identity.js";
import { TokenStore } from "./auth/token-store.js";
import { createHostCheck, refuseHttp1, refuseHttp2, type HostCheck } from "./host-check.js";
import { resolveServerLimits, type ServerLimits } from "./server-limits.js";
import type { RpcServerOptions } from "./server-options.js";

/**
 * Who may connect and call, decided before any handler runs: the connection caps, the client
 * certificate, the Host check (DNS rebinding), authentication, the owner's header check and the
 * per-peer stream caps.
 */
export interface ServerAdmission {
  readonly auth: Authenticator;
  readonly tokens: TokenStore | undefined;
  readonly limits: ServerLimits;
  /** False (the socket refused) over the connection caps. */
  admitConnection(socket: net.Socket): boolean;
  /** False when a verified-bad client certificate ended the connection after the handshake. */
  acceptPeerCertificate(socket: tls.TLSSocket): boolean;
  /** False when the request was refused (and answered); an admitted one releases its slot on close. */
  admitHttp1(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** False when the stream was refused (and answered); an admitted one releases its slot on close. */
  admitHttp2(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, socket: net.Socket): boolean;
}

export function createServerAdmission(opts: RpcServerOptions, logger: pino.Logger): ServerAdmission {
  const tokens = opts.tokenFile ? TokenStore.fromFile(opts.tokenFile) : undefined;
  // With TLS a rebound name fails the certificate check; with tokens a rebound page has none.
  const hostCheck: HostCheck | undefined = !opts.tls && !tokens ? createHostCheck(opts.allowHosts ?? []) : undefined;
  const auth = new Authenticator({
    enabled: opts.tls?.clientCaFile !== undefined || tokens !== undefined,
    tokens,
    logger,
    permissionOf: opts.permissionOf,
  });
  const limits = resolveServerLimits(opts.limits);
  const connectionLimits = new ConnectionLimits({ ...limits, onRefused: (address, reason) => auth.recordDenial(address, reason) });
  const cappedStreams = [Health.method.watch, ...(opts.perPeerStreamMethods ?? [])].map((m) => `/${m.parent.typeName}/${m.name}`);
  const gate = new RequestGate(
    [...opts.services.map((r) => r.service), Health, reflectionV1.ServerReflection, reflectionV1alpha.ServerReflection],
    auth,
    new PerPeerStreamCaps(cappedStreams, limits.maxStreamsPerPeer),
    opts.headerCheck,
  );
  return {
    auth,
    tokens,
    limits,
    admitConnection: (socket) => connectionLimits.admit(socket),
    acceptPeerCertificate: (socket) => acceptPeerCertificate(socket, auth),
    admitHttp1(req, res) {
      const refusedHost = hostCheck?.(req.headers);
      if (refusedHost !== undefined) {
        refuseHttp1(res, refusedHost, req.headers["content-type"]);
        return false;
      }
      const decision = gate.check(pathOfUrl(req.url ?? ""), req.headers, req.socket, req);
      if (!decision.admitted) {
        refuseHttp1Request(res, decision.refusal, req.headers["content-type"]);
        return false;
      }
      res.once("close", decision.release);
      return true;
    },
    admitHttp2(stream, headers, socket) {
      const refusedHost = hostCheck?.(headers);
      if (refusedHost !== undefined) {
        refuseHttp2(stream, refusedHost, headers["content-type"]);
        return false;
      }
      const decision = gate.check(pathOfUrl(String(headers[":path"] ?? "")), headers, socket, stream);
      if (!decision.admitted) {
        refuseHttp2Stream(stream, decision.refusal, headers["content-type"]);
        return false;
      }
      stream.once("close", decision.release);
      return true;
    },
  };
}

/**
 * A client certificate that failed verification (another CA, expired, not yet valid) ends the
 * connection right after the handshake; a verified one is remembered on the socket for the calls.
 */
function acceptPeerCertificate(socket: tls.TLSSocket, auth: Authenticator): boolean {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return true;
  if (!socket.authorized) {
    auth.recordDenial(socket.remoteAddress ?? "unknown", `client certificate rejected: ${String(socket.authorizationError)}`);
    socket.destroy();
    return false;
  }
  const peer: PeerCertificate = { identity: identityFromSans(cert.subjectaltname), uris: uriSans(cert.subjectaltname) };
  (socket as tls.TLSSocket & { [PEER_CERTIFICATE]?: PeerCertificate })[PEER_CERTIFICATE] = peer;
  return true;
}
