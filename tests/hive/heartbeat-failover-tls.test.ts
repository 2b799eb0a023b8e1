import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { LookupAll } from "../../src/hive/queen-targets.js";
import { startQueen, type Queen } from "../../src/queen/queen.js";
import type { ClientCredentials } from "../../src/rpc/transport.js";
import { startFailoverClient } from "./failover-client.js";
import { TestPki, type IssuedFiles } from "../rpc/support/test-pki.js";
import { waitUntil } from "../helpers/wait.js";

const quiet = pino({ level: "silent" });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let pki: TestPki;
let queenCert: IssuedFiles;
let hiveCredentials: ClientCredentials;

beforeAll(async () => {
  pki = await TestPki.create();
  queenCert = await pki.issue("queen", { kind: "queen", name: "main" });
  const hive = await pki.issue("hive-t", { kind: "hive", name: "hive-t" });
  hiveCredentials = { caFile: pki.caFile, certFile: hive.cert, keyFile: hive.key };
});

async function tlsQueen(host: string, port = 0): Promise<Queen> {
  const queen = await startQueen({
    host, port, logger: quiet, reportIntervalMs: 100, shutdownGraceMs: 100,
    security: { tls: { certFile: queenCert.cert, keyFile: queenCert.key, clientCaFile: pki.caFile } },
  });
  cleanups.push(() => queen.close());
  return queen;
}

/** The queen lists the hive, as connected. */
function holds(queen: Queen): boolean {
  return queen.registry.hive("hive-t")?.connected === true;
}

describe("heartbeat with several TLS queens", () => {
  it("uses one set of client credentials for every queen, verifying each against the name when a name's addresses are pinned", async () => {
    const a = await tlsQueen("127.0.0.1");
    const b = await tlsQueen("127.0.0.2", a.server.port);
    const url = `https://localhost:${a.server.port}`;
    const lookup: LookupAll = () => Promise.resolve([{ address: "127.0.0.2", family: 4 }, { address: "127.0.0.1", family: 4 }]);
    const client = startFailoverClient({ urls: [url], hiveId: "hive-t", transport: { credentials: hiveCredentials }, lookup }, cleanups);
    await waitUntil(() => client.currentQueen === `${url} (127.0.0.2)` && holds(b), "the hive on the queen at 127.0.0.2");
    await b.close();
    await waitUntil(() => client.currentQueen === `${url} (127.0.0.1)` && holds(a), "the hive on the queen at 127.0.0.1");
    expect(client.connected).toBe(true);
  });
});
