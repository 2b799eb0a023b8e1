/**
 * Who a caller is. Certificates carry it as a SPIFFE ID in a URI SAN; bearer tokens map to the
 * same shapes. Trust domain "apiary":
 *   spiffe://apiary/hive/<hive_id>
 *   spiffe://apiary/queen/<name>
 *   spiffe://apiary/client/<role>/<name>   role: admin | reader
 * A client ID with one segment (spiffe://apiary/client/<name>) is a reader: the least privilege.
 * The role is a path segment, not a query or an OU, so any SPIFFE issuer (SPIRE, cert-manager's
 * csi-driver-spiffe, Vault) can mint it: SPIFFE IDs allow only a path.
 */
export type Role = "admin" | "reader";
export const ROLES: readonly Role[] = ["admin", "reader"];

export type Identity =
  | { kind: "hive"; name: string }
  | { kind: "queen"; name: string }
  | { kind: "client"; name: string; role: Role };

export const TRUST_DOMAIN = "apiary";
const PREFIX = `spiffe://${TRUST_DOMAIN}/`;
/** SPIFFE path segments: letters, digits, dot, dash, underscore. */
const SEGMENT = /^[A-Za-z0-9._-]+$/;

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Throws when `name` cannot be one segment of a SPIFFE ID. */
export function checkSegment(what: string, name: string): void {
  if (!SEGMENT.test(name) || name === "." || name === "..") {
    throw new Error(`${what} ${JSON.stringify(name)}: a SPIFFE ID segment allows only letters, digits, ".", "-" and "_"`);
  }
}

export function spiffeId(identity: Identity): string {
  checkSegment(`${identity.kind} name`, identity.name);
  if (identity.kind === "client") return `${PREFIX}client/${identity.role}/${identity.name}`;
  return `${PREFIX}${identity.kind}/${identity.name}`;
}

/** The identity a SPIFFE ID names, or undefined when it is not one of apiary's. */
export function parseSpiffeId(uri: string): Identity | undefined {
  if (!uri.startsWith(PREFIX)) return undefined;
  const segments = uri.slice(PREFIX.length).split("/");
  if (segments.some((s) => !SEGMENT.test(s))) return undefined;
  const [kind, ...rest] = segments;
  if ((kind === "hive" || kind === "queen") && rest.length === 1) return { kind, name: rest[0] };
  if (kind === "client" && rest.length === 1) return { kind, name: rest[0], role: "reader" };
  if (kind === "client" && rest.length === 2 && isRole(rest[0])) return { kind, name: rest[1], role: rest[0] };
  return undefined;
}

/** "hive/gpu-7", "client/admin/alice": for logs and error messages. */
export function describeIdentity(identity: Identity): string {
  return identity.kind === "client" ? `client/${identity.role}/${identity.name}` : `${identity.kind}/${identity.name}`;
}

/** URI SANs of a peer certificate as node's tls module gives them ("URI:spiffe://…, DNS:…"). */
export function uriSans(subjectaltname: string | undefined): string[] {
  if (!subjectaltname) return [];
  return subjectaltname
    .split(/,\s*/)
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice(4));
}

/** The one apiary identity among a certificate's URI SANs; several different ones count as none. */
export function identityFromSans(subjectaltname: string | undefined): Identity | undefined {
  const found = uriSans(subjectaltname).map(parseSpiffeId).filter((i): i is Identity => i !== undefined);
  if (found.length === 0) return undefined;
  const first = spiffeId(found[0]);
  return found.every((i) => spiffeId(i) === first) ? found[0] : undefined;
}
