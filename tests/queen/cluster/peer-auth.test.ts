import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueenPeerService } from "../../../gen/apiary/v1/queen_peer_pb.js";
import { createApiaryTransport, type ClientCredentials } from "../../../src/rpc/transport.js";
import { TestPki, type IssuedFiles } from "../../rpc/support/test-pki.js";
import { waitUntil } from "../../helpers/wait.js";
import { TestHive } from "../helpers/test-hive.js";
import { TestCluster } from "./helpers/cluster-fixture.js";

let pki: TestPki;
let cluster: TestCluster;
let queenA: IssuedFiles;
let queenB: IssuedFiles;
let hive: IssuedFiles;
let reader: IssuedFiles;
let admin: IssuedFiles;

function tlsOptions(files: IssuedFiles) {
  return {
    security: { tls: { certFile: files.cert, keyFile: files.key, clientCaFile: pki.caFile } },
    peerCredentials: { caFile: pki.caFile, certFile: files.cert, keyFile: files.key },
    peerFlushIntervalMs: 20,
  };
}

beforeAll(async () => {
  pki = await TestPki.create();
  queenA = await pki.issue("queen-a", { kind: "queen", name: "a" });
  queenB = await pki.issue("queen-b", { kind: "queen", name: "b" });
  hive = await pki.issue("h1", { kind: "hive", name: "h1" });
  reader = await pki.issue("reader", { kind: "client", name: "alice", role: "reader" });
  admin = await pki.issue("admin", { kind: "client", name: "root", role: "admin" });
  cluster = new TestCluster();
  await cluster.start("a", tlsOptions(queenA));
  await cluster.start("b", tlsOptions(queenB));
});
afterAll(async () => {
  await cluster?.close();
});

async function follow(credentials: ClientCredentials): Promise<Code | "ok"> {
  const stream = createClient(QueenPeerService, createApiaryTransport(cluster.queen("a").url, { credentials })).followHeldHives({ followerQueenId: "test" });
  try {
    for await (const m of stream) if (m.snapshotEnd) return "ok";
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

describe("QueenPeerService over TLS", () => {
  it("lets queens follow each other with their own certificates", async () => {
    const transport = createApiaryTransport(cluster.queen("a").url, { credentials: { caFile: pki.caFile, certFile: hive.cert, keyFile: hive.key } });
    const h1 = await TestHive.connect(transport, "h1");
    await h1.reportSynthetic({ workers: 2, gpus: 1 });
    await waitUntil(() => cluster.queen("b").registry.hive("h1")?.workers.size === 2, "b to show h1's workers from a");
    h1.abort();
  });

  it("refuses a reader client and a hive, allows a queen identity and an admin client", async () => {
    expect(await follow({ caFile: pki.caFile, certFile: reader.cert, keyFile: reader.key })).toBe(Code.PermissionDenied);
    expect(await follow({ caFile: pki.caFile, certFile: hive.cert, keyFile: hive.key })).toBe(Code.PermissionDenied);
    expect(await follow({ caFile: pki.caFile, certFile: queenB.cert, keyFile: queenB.key })).toBe("ok");
    expect(await follow({ caFile: pki.caFile, certFile: admin.cert, keyFile: admin.key })).toBe("ok");
  });
});
