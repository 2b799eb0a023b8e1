import { readFileSync } from "node:fs";
import path from "node:path";
import { issueCertificate, type PemPair } from "../../src/rpc/tls/pki.js";

/** TLS of the load generator: a CA directory (apiary certs init) from which each simulated hive gets its own certificate. */
export interface BenchTls {
  /** Holds ca.crt and ca.key. */
  caDir: string;
}

/** Issues hive certificates (spiffe://apiary/hive/<id>) for simulated hives, as `apiary certs issue --hive` would. */
export class BenchHiveCerts {
  readonly ca: PemPair;

  constructor(tls: BenchTls) {
    this.ca = { certPem: readFileSync(path.join(tls.caDir, "ca.crt"), "utf8"), keyPem: readFileSync(path.join(tls.caDir, "ca.key"), "utf8") };
  }

  issue(hiveId: string): Promise<PemPair> {
    return issueCertificate(this.ca, { identity: { kind: "hive", name: hiveId }, days: 2 });
  }
}
