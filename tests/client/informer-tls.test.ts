import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ConnectError } from "@connectrpc/connect";
import { Informer } from "../../src/client/informer.js";
import { queenClients } from "../../src/client/queen-clients.js";
import { startQueen } from "../../src/queen/queen.js";
import { createApiaryTransport, type ClientCredentials } from "../../src/rpc/transport.js";
import { TestPki, type IssuedFiles } from "../rpc/support/test-pki.js";
import { TestHive } from "../queen/helpers/test-hive.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let pki: TestPki;
let queenCert: IssuedFiles;
let impostorCert: IssuedFiles;
let reader: ClientCredentials;
let hiveCredentials: ClientCredentials;

beforeAll(async () => {
  pki = await TestPki.create();
  queenCert = await pki.issue("queen", { kind: "queen", name: "main" });
  // Signed by the cluster's CA, but a hive's identity: it must not pass for a queen.
  impostorCert = await pki.issue("impostor", { kind: "hive", name: "h-evil" });
  const client = await pki.issue("scheduler", { kind: "client", name: "scheduler", role: "reader" });
  reader = { caFile: pki.caFile, certFile: client.cert, keyFile: client.key };
  const hive = await pki.issue("hive-t", { kind: "hive", name: "hive-t" });
  hiveCredentials = { caFile: pki.caFile, certFile: hive.cert, keyFile: hive.key };
});

async function tlsQueen(cert: IssuedFiles) {
  const queen = await startQueen({
    host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }), shutdownGraceMs: 100,
    security: { tls: { certFile: cert.cert, keyFile: cert.key, clientCaFile: pki.caFile } },
  });
  cleanups.push(() => queen.close());
  return queen;
}

describe("Informer over mutual TLS", () => {
  it("watches a TLS queen with a reader certificate, given a scheme-less address", async () => {
    const queen = await tlsQueen(queenCert);
    const hive = await TestHive.connect(createApiaryTransport(queen.url, { credentials: hiveCredentials }), "hive-t");
    cleanups.push(() => hive.abort());
    await hive.reportSynthetic({ workers: 2, gpus: 1, model: () => "m" });
    const informer = new Informer({ queens: queenClients(`127.0.0.1:${queen.server.port}`, reader) });
    cleanups.push(() => informer.close());
    await informer.synced();
    expect(informer.pick("m")?.key).toBe("hive-t/w0");
  });

  it("refuses a server whose CA-signed certificate names a hive, not a queen (an impostor feeding false workers)", async () => {
    const impostor = await tlsQueen(impostorCert);
    let failed!: (err: ConnectError | undefined) => void;
    const refused = new Promise<ConnectError | undefined>((resolve) => (failed = resolve));
    const informer = new Informer({ queens: queenClients(`127.0.0.1:${impostor.server.port}`, reader), onRetry: (err) => failed(err) });
    cleanups.push(() => informer.close());
    const err = await refused;
    expect(String(err?.cause ?? err?.message)).toMatch(/spiffe:\/\/apiary\/queen|identity|SAN|certificate/i);
    expect(informer.staleness()).toMatchObject({ synced: false, live: false });
  });
});
