import { describe, expect, it } from "vitest";
import { EtcdClient } from "../../src/etcd/etcd-client.js";
import { runApiary } from "../e2e/helpers/apiary-process.js";

/** An etcd password is a credential: over plaintext it may go only to this machine. */
describe("etcd password over plaintext http", () => {
  const auth = { username: "apiary", password: "s3cret" };

  it("refuses a non-loopback http:// endpoint when a user and password are set", () => {
    expect(() => new EtcdClient({ endpoints: ["http://127.0.0.1:2379", "http://10.0.0.7:2379"], auth })).toThrow(
      "etcd endpoint http://10.0.0.7:2379: refusing to send the password of etcd user apiary over plaintext http:// beyond loopback; use https:// (--etcd-ca)",
    );
  });

  it("accepts loopback http://, https://, and http:// without a password", async () => {
    for (const options of [{ endpoints: ["http://127.0.0.1:2379", "http://[::1]:2379"], auth }, { endpoints: ["https://10.0.0.7:2379"], auth }, { endpoints: ["http://10.0.0.7:2379"] }]) {
      const client = new EtcdClient(options);
      await client.close();
    }
  });

  it("a queen given such an endpoint refuses to start, with the reason", async () => {
    const out = await runApiary(["queen", "--port", "0", "--etcd", "http://192.0.2.1:2379", "--etcd-user", "apiary", "--etcd-password-file", "/dev/null"]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain("refusing to send the password of etcd user apiary over plaintext http:// beyond loopback");
  });
});
