import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RecordingServer } from "../helpers/recording-server.js";
import { waitFor } from "../helpers/wait.js";
import { ApiaryProcess, runApiary } from "./helpers/apiary-process.js";

/**
 * Attacks on the client side of a TLS cluster, each against a real listener that records whether
 * the user's token reached it: a hive that advertises an endpoint of its choosing, and a server
 * holding a hive's certificate and key that poses as the queen (to the CLI and to a hive).
 */
describe("tokens go only where they should; servers prove who they are", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "apiary-client-identity-"));
  const pki = path.join(dir, "pki");
  const f = (name: string) => path.join(pki, name);
  const tokens = path.join(dir, "tokens");
  const base = { APIARY_CONFIG: path.join(dir, "none.yaml"), APIARY_LOG_LEVEL: "warn" };
  let env: NodeJS.ProcessEnv;
  let queen: ApiaryProcess;
  const hives: ApiaryProcess[] = [];
  const recorders: RecordingServer[] = [];
  let queenUrl: string;
  let token: string;

  const recorder = async (tls?: string) => {
    const r = await RecordingServer.start(tls ? { cert: readFileSync(f(`${tls}.crt`)), key: readFileSync(f(`${tls}.key`)) } : undefined);
    recorders.push(r);
    return r;
  };
  const startHive = async (id: string, advertise: string, queenAddr: string) => {
    const hive = ApiaryProcess.start(
      [
        "hive", "--id", id, "--port", "0", "--queen", queenAddr, "--advertise", advertise,
        "--tls-cert", f(`hive-${id}.crt`), "--tls-key", f(`hive-${id}.key`), "--client-ca", f("ca.crt"),
        "--no-gpu", "--cgroup-mode", "none", "--state-dir", path.join(dir, `state-${id}`),
      ],
      base,
    );
    hives.push(hive);
    return hive;
  };
  const listed = (id: string) => waitFor(async () => (await runApiary(["hives"], env)).stdout.includes(id), `hive ${id} listed`, 30_000, 200);

  beforeAll(async () => {
    for (const args of [
      ["certs", "init", pki],
      ["certs", "issue", pki, "--queen", "main"],
      ["certs", "issue", pki, "--hive", "plain"],
      ["certs", "issue", pki, "--hive", "foreign"],
      // Loopback names, as every certificate had before: host-name checking alone would accept these anywhere on 127.0.0.1.
      ["certs", "issue", pki, "--hive", "other", "--loopback"],
      ["certs", "issue", pki, "--hive", "stolen", "--loopback"],
    ]) {
      const out = await runApiary(args, base);
      expect(out.code, out.stderr).toBe(0);
    }
    const minted = await runApiary(["certs", "token", "--name", "alice", "--role", "admin", "--token-file", tokens], base);
    token = minted.stdout.trim();
    env = { ...base, APIARY_CA: f("ca.crt"), APIARY_TOKEN: token };
    queen = ApiaryProcess.start(["queen", "--port", "0", "--tls-cert", f("queen-main.crt"), "--tls-key", f("queen-main.key"), "--client-ca", f("ca.crt"), "--token-file", tokens], base);
    queenUrl = (await queen.waitFor(/apiary queen listening on (https:\/\/\S+)/))[1];
    env.APIARY_QUEEN = queenUrl;
  });
  afterAll(async () => {
    await Promise.all(hives.map((h) => h.stop()));
    await queen?.stop();
    await Promise.all(recorders.map((r) => r.close()));
  });

  it("a hive advertising a plaintext endpoint to a TLS CLI: spawn, stop and logs refuse, and no token reaches it", async () => {
    const trap = await recorder();
    await startHive("plain", trap.url, queenUrl.replace("https://", ""));
    await listed("plain");
    for (const args of [["spawn", "--hive", "plain", "--", "sleep", "5"], ["stop", "plain/w1"], ["logs", "--hive", "plain", "w1"]]) {
      const out = await runApiary(args, env);
      expect(out.code, args.join(" ")).toBe(1);
      expect(out.stderr).toContain(`hive plain told the queen a plaintext endpoint (${trap.url}); refusing to send credentials to it over http://`);
    }
    expect(trap.connections).toBe(0);
    expect(trap.authorizations).toEqual([]);
  });

  it("a hive advertising another server's https endpoint: the CLI wants spiffe://apiary/hive/<that id> and sends no token", async () => {
    const trap = await recorder("hive-other");
    await startHive("foreign", trap.url, queenUrl.replace("https://", ""));
    await listed("foreign");
    const out = await runApiary(["spawn", "--hive", "foreign", "--", "sleep", "5"], env);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("is not spiffe://apiary/hive/foreign: its certificate names spiffe://apiary/hive/other");
    expect(trap.requests).toBe(0);
    expect(trap.authorizations).toEqual([]);
  });

  it("a server with a hive's certificate posing as the queen: the CLI refuses and sends no token", async () => {
    const impostor = await recorder("hive-stolen");
    const out = await runApiary(["hives", "--queen", impostor.url], env);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("is not spiffe://apiary/queen/*: its certificate names spiffe://apiary/hive/stolen");
    expect(impostor.requests).toBe(0);
    expect(impostor.authorizations).toEqual([]);
  });

  it("a server with a hive's certificate posing as the queen: a hive refuses to report to it", async () => {
    const impostor = await recorder("hive-stolen");
    const hive = await startHive("other", "https://127.0.0.1:1", impostor.url.replace("https://", ""));
    await hive.waitFor(/is not spiffe:\/\/apiary\/queen\/\*: its certificate names spiffe:\/\/apiary\/hive\/stolen/);
    expect(impostor.paths).toEqual([]);
  });

  it("the real queen still answers the same CLI, by its SPIFFE ID, though its certificate names no host", async () => {
    const out = await runApiary(["hives"], env);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain("plain");
  });
});

describe("a token goes over plaintext only to loopback", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "apiary-token-dest-"));
  const tokenFile = path.join(dir, "token");
  const base = { APIARY_CONFIG: path.join(dir, "none.yaml") };
  writeFileSync(tokenFile, "apiary_secret_from_file\n", { mode: 0o600 });

  it("refuses a token for a non-loopback http:// queen before dialling", async () => {
    const out = await runApiary(["hives", "--queen", "http://192.0.2.1:7833", "--token-file", tokenFile], base);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("refusing to send the token over plaintext http:// to 192.0.2.1:7833");
  });

  it("sends the --token-file token to a loopback http:// listener", async () => {
    const local = await RecordingServer.start();
    try {
      await runApiary(["hives", "--queen", local.url, "--token-file", tokenFile], base);
      expect(local.authorizations).toContain("Bearer apiary_secret_from_file");
    } finally {
      await local.close();
    }
  });

  it("warns about --token on the command line, not about $APIARY_TOKEN", async () => {
    const local = await RecordingServer.start();
    try {
      const argv = await runApiary(["hives", "--queen", local.url, "--token", "apiary_on_argv"], base);
      expect(argv.stderr).toContain("--token on the command line is visible to every local user");
      const fromEnv = await runApiary(["hives", "--queen", local.url], { ...base, APIARY_TOKEN: "apiary_in_env" });
      expect(fromEnv.stderr).not.toContain("visible to every local user");
      expect(local.authorizations).toEqual(["Bearer apiary_on_argv", "Bearer apiary_in_env"]);
    } finally {
      await local.close();
    }
  });
});
