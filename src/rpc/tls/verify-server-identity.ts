import { checkServerIdentity as checkHostname, type PeerCertificate } from "node:tls";
import { describeIdentity, identityFromSans, TRUST_DOMAIN, uriSans } from "../auth/identity.js";

/** Who a client expects at the other end: a queen (any, or one by name) or a hive (any, or one by id). */
export interface ExpectedServer {
  kind: "queen" | "hive";
  name?: string;
}

export function describeExpected(e: ExpectedServer): string {
  return `spiffe://${TRUST_DOMAIN}/${e.kind}/${e.name ?? "*"}`;
}

/** A server whose certificate does not name the identity the client expects. */
export class ServerIdentityError extends Error {
  override readonly name = "ServerIdentityError";
}

/**
 * checkServerIdentity for node:tls: the certificate (already verified against the CA) must carry
 * the expected apiary SPIFFE ID; the ID, not a host name, is the server's identity (SPIFFE X.509-SVID),
 * so certificates need no DNS/IP SANs for apiary's own clients. A certificate with no apiary ID at
 * all is judged on its host name only when `webPki` (the system trust store verified it: a public
 * certificate in front of a queen); with apiary's own CA an ID is required.
 */
export function serverIdentityCheck(expected: ExpectedServer, webPki: boolean) {
  return (host: string, cert: PeerCertificate): Error | undefined => {
    const identity = identityFromSans(cert.subjectaltname);
    const want = describeExpected(expected);
    if (identity === undefined) {
      const apiaryIds = uriSans(cert.subjectaltname).filter((u) => u.startsWith(`spiffe://${TRUST_DOMAIN}/`));
      if (apiaryIds.length === 0 && webPki) return checkHostname(host, cert);
      return new ServerIdentityError(`the server at ${host} is not ${want}: its certificate names ${apiaryIds.length > 0 ? apiaryIds.join(", ") : "no apiary SPIFFE ID"}`);
    }
    if (identity.kind !== expected.kind || (expected.name !== undefined && identity.name !== expected.name)) {
      return new ServerIdentityError(`the server at ${host} is not ${want}: its certificate names spiffe://${TRUST_DOMAIN}/${describeIdentity(identity)}`);
    }
    return undefined;
  };
}
