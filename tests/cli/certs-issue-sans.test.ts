import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runApiary } from "../e2e/helpers/apiary-process.js";

/** `certs issue` names only what it is asked to: a stolen hive key must not also pass for localhost or this machine. */
describe("apiary certs issue: subject alternative names", () => {
  const pki = path.join(mkdtempSync(path.join(tmpdir(), "apiary-certs-sans-")), "pki");
  const sans = (file: string) => new X509Certificate(readFileSync(path.join(pki, file))).subjectAltName;

  beforeAll(async () => {
    const out = await runApiary(["certs", "init", pki]);
    expect(out.code, out.stderr).toBe(0);
  });

  it("a queen or hive certificate carries its SPIFFE ID and nothing else by default", async () => {
    for (const args of [["--queen", "q1"], ["--hive", "h1"]]) {
      const out = await runApiary(["certs", "issue", pki, ...args]);
      expect(out.code, out.stderr).toBe(0);
    }
    expect(sans("queen-q1.crt")).toBe("URI:spiffe://apiary/queen/q1");
    expect(sans("hive-h1.crt")).toBe("URI:spiffe://apiary/hive/h1");
    expect(sans("hive-h1.crt")).not.toContain(hostname());
  });

  it("adds the names given, and loopback only with --loopback", async () => {
    const out = await runApiary(["certs", "issue", pki, "--hive", "h2", "--dns", "gpu-2.lan", "--ip", "10.0.0.5", "--loopback"]);
    expect(out.code, out.stderr).toBe(0);
    expect(sans("hive-h2.crt")).toBe("URI:spiffe://apiary/hive/h2, DNS:localhost, DNS:gpu-2.lan, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.0.0.5");
    expect(out.stdout).toContain("spiffe://apiary/hive/h2, DNS:localhost, DNS:gpu-2.lan, IP:127.0.0.1, IP:::1, IP:10.0.0.5");
  });

  it("refuses host names on a client certificate", async () => {
    const out = await runApiary(["certs", "issue", pki, "--client", "c1", "--loopback"]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("--dns, --ip and --loopback are for --hive and --queen");
    expect(sans.bind(null, "client-c1.crt")).toThrow();
  });
});
