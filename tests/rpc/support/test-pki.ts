// A throwaway PKI on disk for TLS tests: a CA and leaf certificates issued by src/rpc/tls/pki.ts.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Identity } from "../../../src/rpc/auth/identity.js";
import { createCa, issueCertificate, type PemPair, type Validity } from "../../../src/rpc/tls/pki.js";

export interface IssuedFiles {
  cert: string;
  key: string;
  certPem: string;
  keyPem: string;
}

export class TestPki {
  private constructor(
    readonly dir: string,
    readonly ca: PemPair,
    readonly caFile: string,
  ) {}

  static async create(dir = mkdtempSync(path.join(tmpdir(), "apiary-pki-"))): Promise<TestPki> {
    const ca = await createCa("apiary test CA");
    const caFile = path.join(dir, "ca.crt");
    writeFileSync(caFile, ca.certPem);
    return new TestPki(dir, ca, caFile);
  }

  /** Writes DIR/<file>.crt and .key for identity; servers get localhost and 127.0.0.1 SANs. */
  async issue(file: string, identity: Identity, validity: Validity = {}): Promise<IssuedFiles> {
    const server = identity.kind !== "client";
    const pair = await issueCertificate(this.ca, {
      identity,
      ...(server ? { dns: ["localhost"], ips: ["127.0.0.1", "::1"] } : {}),
      ...validity,
    });
    const cert = path.join(this.dir, `${file}.crt`);
    const key = path.join(this.dir, `${file}.key`);
    writeFileSync(cert, pair.certPem);
    writeFileSync(key, pair.keyPem, { mode: 0o600 });
    return { cert, key, certPem: pair.certPem, keyPem: pair.keyPem };
  }
}
