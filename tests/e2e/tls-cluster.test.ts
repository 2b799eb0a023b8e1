import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait.js";
import { ApiaryProcess, runApiary } from "./helpers/apiary-process.js";

/** The TLS cluster of docs/operations.md, as an operator runs it: certs, a queen and a hive over mTLS, the CLI through a context. */
describe("a TLS cluster end to end", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "apiary-tls-e2e-"));
  const pki = path.join(dir, "pki");
  const env = { APIARY_CONFIG: path.join(dir, "config.yaml"), APIARY_LOG_LEVEL: "warn" };
  let queen: ApiaryProcess;
  let hive: ApiaryProcess;
  let queenUrl: string;

  beforeAll(async () => {
    for (const args of [
      ["certs", "init", pki],
      ["certs", "issue", pki, "--queen", "main"],
      ["certs", "issue", pki, "--hive", "tls-e2e"],
      ["certs", "issue", pki, "--client", "alice", "--role", "admin"],
      ["certs", "issue", pki, "--client", "bob"],
    ]) {
      const out = await runApiary(args, env);
      expect(out.code, out.stderr).toBe(0);
    }
    const f = (name: string) => path.join(pki, name);
    queen = ApiaryProcess.start(["queen", "--port", "0", "--tls-cert", f("queen-main.crt"), "--tls-key", f("queen-main.key"), "--client-ca", f("ca.crt")], env);
    queenUrl = (await queen.waitFor(/apiary queen listening on (https:\/\/\S+)/))[1];
    hive = ApiaryProcess.start(
      [
        "hive", "--id", "tls-e2e", "--port", "0", "--queen", queenUrl.replace("https://", ""),
        "--tls-cert", f("hive-tls-e2e.crt"), "--tls-key", f("hive-tls-e2e.key"), "--client-ca", f("ca.crt"),
        "--no-gpu", "--cgroup-mode", "none", "--state-dir", path.join(dir, "hive-state"),
      ],
      env,
    );
    await hive.waitFor(/apiary hive listening on https:\/\//);
    const ctx = await runApiary(["config", "set-context", "lab", "--queen", queenUrl, "--ca", f("ca.crt"), "--cert", f("client-alice.crt"), "--key", f("client-alice.key")], env);
    expect(ctx.code, ctx.stderr).toBe(0);
  });
  afterAll(async () => {
    await hive?.stop();
    await queen?.stop();
  });

  it("the hive reports over mTLS and the CLI lists it through its context", async () => {
    const out = await waitFor(async () => {
      const listed = await runApiary(["hives"], env);
      return /tls-e2e\s+healthy/.test(listed.stdout) && listed;
    }, "the hive listed as healthy", 30_000, 200);
    expect(out.stdout).toMatch(/https:\/\/127\.0\.0\.1:\d+/);
  });

  it("a reader context cannot spawn on the hive; the admin one can", async () => {
    const endpoint = (await runApiary(["hives", "--json"], env)).stdout.match(/"endpoint":\s*"(https:[^"]+)"/)![1];
    const asBob = await runApiary(["spawn", "--hive-addr", endpoint, "--cert", path.join(pki, "client-bob.crt"), "--key", path.join(pki, "client-bob.key"), "--", "sleep", "5"], env);
    expect(asBob.code).toBe(1);
    expect(asBob.stderr).toContain("PermissionDenied: client/reader/bob may not do this");
    const asAlice = await runApiary(["spawn", "--hive-addr", endpoint, "--id", "tls-e2e-w", "--", "sleep", "5"], env);
    expect(asAlice.code, asAlice.stderr).toBe(0);
    // stop finds the worker's hive through the queen, which hears of it with the hive's next report.
    await waitFor(async () => /tls-e2e-w/.test((await runApiary(["workers"], env)).stdout), "the worker listed by the queen", 30_000, 200);
    const stopped = await runApiary(["stop", "tls-e2e-w", "--grace", "1s"], env);
    expect(stopped.code, stopped.stderr).toBe(0);
  });

  it("without credentials the CLI is told UNAUTHENTICATED in one line", async () => {
    const out = await runApiary(["hives", "--queen", queenUrl, "--ca", path.join(pki, "ca.crt")], { ...env, APIARY_CONFIG: path.join(dir, "none.yaml") });
    expect(out.code).toBe(1);
    expect(out.stderr.trim().split("\n")).toHaveLength(1);
    expect(out.stderr).toContain("answered UNAUTHENTICATED: no credentials");
  });

  it("a queen asked to listen beyond loopback in plaintext refuses to start, naming the flags", async () => {
    const out = await runApiary(["queen", "--host", "0.0.0.0", "--port", "0"], env);
    expect(out.code).toBe(1);
    expect(out.stderr.trim()).toBe(
      "apiary: queen cannot start: refusing to listen on 0.0.0.0 without TLS: give --tls-cert, --tls-key and --client-ca (or --token-file), or --insecure to accept the risk",
    );
  });
});
