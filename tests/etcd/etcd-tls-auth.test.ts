import { describe, expect, it } from "vitest";
import { Permission_Type } from "../../gen/etcd/auth/authpb/auth_pb.js";
import { bytes, prefixEnd, text } from "../../src/etcd/key-range.js";
import { EtcdClusterStore } from "../../src/queen/cluster/etcd-cluster-store.js";
import { createCa, issueCertificate } from "../../src/rpc/tls/pki.js";
import { startEtcd } from "../helpers/etcd.js";
import { hive, member } from "../queen/cluster/cluster-store-contract.js";

describe("etcd client: TLS", () => {
  it("speaks to etcd over TLS with a client certificate, and is refused without one", async () => {
    const ca = await createCa("etcd test CA");
    const server = await issueCertificate(ca, { identity: { kind: "queen", name: "etcd" }, dns: ["localhost"], ips: ["127.0.0.1"] });
    const queenCert = await issueCertificate(ca, { identity: { kind: "queen", name: "q1" } });
    const etcd = await startEtcd({ tls: { ca, server, clientCertAuth: true } });
    try {
      expect(etcd.endpoints[0]).toMatch(/^https:/);
      const store = new EtcdClusterStore(etcd.client({ tls: { ca: ca.certPem, cert: queenCert.certPem, key: queenCert.keyPem } }));
      const a = await store.openSession(member("q1"), 2_000);
      expect((await a.claimHive(hive("h1"), 0)).ok).toBe(true);
      expect((await store.list()).owners.get("h1")?.value).toBe("q1");
      await a.close();
      await store.close();
      const anonymous = etcd.client({ tls: { ca: ca.certPem }, retryBudgetMs: 500 });
      // A TLS refusal is not retried: it is a configuration error, not an outage.
      await expect(anonymous.range("/apiary/")).rejects.toThrow(/certificate required|alert/i);
      expect(() => etcd.client({ endpoints: ["http://127.0.0.1:1"], tls: { ca: ca.certPem } })).toThrow(/https/);
    } finally {
      await etcd.stop();
    }
  });
});

describe("etcd client: username and password", () => {
  it("authenticates, sends the token, stays within its role, and renews a rejected token once", async () => {
    const etcd = await startEtcd();
    try {
      const admin = etcd.client();
      await admin.call("setup", async (s, o) => {
        await s.auth.userAdd({ name: "root", password: "rootpw" }, o);
        await s.auth.roleAdd({ name: "root" }, o).catch(() => {}); // exists already on some versions
        await s.auth.userGrantRole({ user: "root", role: "root" }, o);
        await s.auth.roleAdd({ name: "apiary" }, o);
        const key = bytes("/apiary/");
        await s.auth.roleGrantPermission({ name: "apiary", perm: { permType: Permission_Type.READWRITE, key, rangeEnd: prefixEnd(key) } }, o);
        await s.auth.userAdd({ name: "queen", password: "s3cret" }, o);
        await s.auth.userGrantRole({ user: "queen", role: "apiary" }, o);
        await s.auth.authEnable({}, o);
      });
      await expect(admin.range("/apiary/")).rejects.toThrow(/user name is empty|permission denied|invalid auth token/);
      const queen = etcd.client({ auth: { username: "queen", password: "s3cret" } });
      await queen.put("/apiary/x", "1");
      expect(text((await queen.range("/apiary/x")).kvs[0]!.value)).toBe("1");
      await expect(queen.put("/elsewhere", "1")).rejects.toThrow(/permission denied/);
      // A token etcd no longer knows (expired, or issued by another member) is renewed once.
      (queen as unknown as { token: string }).token = "stale.token";
      await queen.put("/apiary/x", "2");
      expect((queen as unknown as { token: string }).token).not.toBe("stale.token");
      const wrong = etcd.client({ auth: { username: "queen", password: "nope" } });
      await expect(wrong.range("/apiary/")).rejects.toThrow(/authentication failed/);
    } finally {
      await etcd.stop();
    }
  });
});
