import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { spiffeId, type Identity } from "../auth/identity.js";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const KEY_ALGORITHM: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 86_400_000;

export interface PemPair {
  certPem: string;
  keyPem: string;
}

export interface Validity {
  /** Default: one hour ago (tolerates clock skew between machines). */
  notBefore?: Date;
  /** Default: notBefore + days. */
  notAfter?: Date;
  /** Default 3650 for a CA, 365 for a leaf. */
  days?: number;
}

export interface LeafOptions extends Validity {
  identity: Identity;
  /** DNS SANs, for servers. */
  dns?: string[];
  /** IP SANs, for servers. */
  ips?: string[];
}

function window(v: Validity, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const notBefore = v.notBefore ?? new Date(Date.now() - 3_600_000);
  const notAfter = v.notAfter ?? new Date(notBefore.getTime() + (v.days ?? defaultDays) * DAY_MS);
  if (notAfter <= notBefore) throw new Error("certificate validity: notAfter must be after notBefore");
  return { notBefore, notAfter };
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f; // positive
  return Buffer.from(bytes).toString("hex");
}

async function keyPem(key: CryptoKey): Promise<string> {
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", key as webcrypto.CryptoKey);
  return x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
}

/** A self-signed ECDSA P-256 CA that may sign leaves only (path length 0). */
export async function createCa(name = "apiary CA", validity: Validity = {}): Promise<PemPair> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [name] }, { O: ["apiary"] }],
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    ...window(validity, 3650),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await keyPem(keys.privateKey) };
}

/**
 * A leaf certificate signed by the CA: the identity as a SPIFFE URI SAN, DNS and IP SANs when
 * given, usable for both TLS server and client authentication (a queen serves and dials hives).
 */
export async function issueCertificate(ca: PemPair, opts: LeafOptions): Promise<PemPair> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importKey(ca.keyPem);
  const keys = await generateKeys();
  const names: x509.JsonGeneralName[] = [{ type: "url", value: spiffeId(opts.identity) }];
  for (const dns of opts.dns ?? []) names.push({ type: "dns", value: dns });
  for (const ip of opts.ips ?? []) names.push({ type: "ip", value: ip });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [opts.identity.name] }, { O: ["apiary"] }, { OU: [opts.identity.kind] }],
    issuer: caCert.subject,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    ...window(opts, 365),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await keyPem(keys.privateKey) };
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  try {
    return (await webcrypto.subtle.importKey("pkcs8", der, KEY_ALGORITHM, false, ["sign"])) as unknown as CryptoKey;
  } catch (err) {
    throw new Error(`CA key: not a PKCS#8 ECDSA P-256 key (${(err as Error).message})`);
  }
}
