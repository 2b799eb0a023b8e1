import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import { UsageError } from "../../../src/cli/command.js";
import { queenClusterOptions } from "../../../src/cli/commands/queen-cluster-flags.js";
import { text } from "../../../src/etcd/key-range.js";
import { EtcdClusterStore } from "../../../src/queen/cluster/etcd-cluster-store.js";
import type { Queen } from "../../../src/queen/queen.js";
import { createCa, issueCertificate } from "../../../src/rpc/tls/pki.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { startEtcd, type EtcdCluster } from "../../helpers/etcd.js";
import { waitFor, waitUntil } from "../../helpers/wait.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { TestHive } from "../helpers/test-hive.js";

let etcd: EtcdCluster;
const queens: Queen[] = [];
const stores: EtcdClusterStore[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await Promise.all(queens.map((q) => q.close()));
  await Promise.all(stores.map((s) => s.close()));
  await etcd?.stop();
});

async function startEtcdQueen(queenId: string): Promise<Queen> {
  const options = await queenClusterOptions({ etcd: etcd.endpoints.join(","), "etcd-prefix": "/apiary-queens-test/", "queen-id": queenId, "lease-ttl": "5s", "peer-flush-interval": "50ms" });
  stores.push(options.clusterStore as EtcdClusterStore);
  const { queen } = await startTestQueen(options);
  queens.push(queen);
  return queen;
}

describe("apiary queen --etcd", () => {
  it("two queens on etcd: a hive held by one is answered by both; steady reports write nothing to etcd", async () => {
    const a = await startEtcdQueen("a");
    const b = await startEtcdQueen("b");
    const hive = await TestHive.connect(a.url, "h1");
    await hive.reportSynthetic({ workers: 3, gpus: 1 });
    await waitUntil(() => b.registry.hive("h1")?.workers.size === 3, "b to show h1's workers");
    const find = async (q: Queen) => (await createClient(QueenService, createApiaryTransport(q.url)).findWorkers({})).matches.map((m) => `${m.hiveId}/${m.worker?.workerId}`);
    expect(await find(b)).toEqual(await find(a));
    expect(b.registry.hiveStatus(b.registry.hive("h1")!, false).ownerQueenId).toBe("a");

    const writesBefore = stores[0]!.counters.kvWrites;
    for (let i = 0; i < 20; i++) await hive.reportSynthetic({ workers: 3, gpus: 1 });
    expect(stores[0]!.counters.kvWrites).toBe(writesBefore);
    hive.abort();
  });

  it("holds hives over etcd with TLS client certificates from --etcd-ca, --etcd-cert and --etcd-key", async () => {
    const ca = await createCa("etcd test CA");
    const server = await issueCertificate(ca, { identity: { kind: "queen", name: "etcd" }, dns: ["localhost"], ips: ["127.0.0.1"] });
    const client = await issueCertificate(ca, { identity: { kind: "queen", name: "tls-q" } });
    const tlsEtcd = await startEtcd({ tls: { ca, server, clientCertAuth: true } });
    const dir = mkdtempSync(path.join(tmpdir(), "apiary-queen-etcd-tls-"));
    const file = (name: string, text: string) => (writeFileSync(path.join(dir, name), text), path.join(dir, name));
    try {
      const options = await queenClusterOptions({
        etcd: tlsEtcd.endpoints.join(","),
        "etcd-ca": file("ca.crt", ca.certPem),
        "etcd-cert": file("queen.crt", client.certPem),
        "etcd-key": file("queen.key", client.keyPem),
        "etcd-prefix": "/apiary-tls-test/",
        "queen-id": "tls-q",
        "lease-ttl": "5s",
      });
      stores.push(options.clusterStore as EtcdClusterStore);
      const { queen } = await startTestQueen(options);
      queens.push(queen);
      const hive = await TestHive.connect(queen.url, "h-tls");
      await hive.reportSynthetic({ workers: 1, gpus: 1 });
      const reader = tlsEtcd.client({ tls: { ca: ca.certPem, cert: client.certPem, key: client.keyPem } });
      const owner = await waitFor(async () => (await reader.range("/apiary-tls-test/owners/h-tls")).kvs[0], "the hive's owner key in etcd");
      expect(text(owner.value)).toBe("tls-q");
      hive.abort();
      await queen.close();
      await reader.close();
    } finally {
      await tlsEtcd.stop();
    }
  });

  it("refuses cluster flags without --etcd and half-given credentials", async () => {
    expect(await queenClusterOptions({})).toEqual({});
    await expect(queenClusterOptions({ "queen-id": "a" })).rejects.toThrow(UsageError);
    await expect(queenClusterOptions({ etcd: "127.0.0.1:2379", "etcd-user": "root" })).rejects.toThrow(/--etcd-user and --etcd-password-file go together/);
    await expect(queenClusterOptions({ etcd: "127.0.0.1:2379", "etcd-prefix": "/x" })).rejects.toThrow(/must end with/);
    await expect(queenClusterOptions({ etcd: "127.0.0.1:2379", "lease-ttl": "100ms" })).rejects.toThrow(/at least 1s/);
    await expect(queenClusterOptions({ etcd: "127.0.0.1:2379", "peer-token-file": "/nonexistent/token" })).rejects.toThrow(/--peer-token-file/);
  });

  it("reads the etcd password and the peer token from files, never from the command line", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "apiary-queen-flags-"));
    writeFileSync(path.join(dir, "password"), "s3cret\n");
    writeFileSync(path.join(dir, "token"), "apiary_tok\n");
    const options = await queenClusterOptions({
      etcd: "127.0.0.1:2379",
      "etcd-user": "root",
      "etcd-password-file": path.join(dir, "password"),
      "peer-token-file": path.join(dir, "token"),
      "advertise-url": "http://q1:7833",
    });
    expect(options.peerCredentials).toEqual({ token: "apiary_tok" });
    expect(options.advertiseUrl).toBe("http://q1:7833");
    expect(options.leaseTtlMs).toBe(10_000);
    expect(options.peerFlushIntervalMs).toBe(250);
    await options.clusterStore!.close();
  });
});
