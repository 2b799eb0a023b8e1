import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configPath, readClientConfig } from "../../src/client/client-config.js";
import { queenFlags } from "../../src/cli/common-flags.js";
import { parseFlags } from "../../src/cli/parse-flags.js";
import { resolveConnection } from "../../src/cli/rpc-client.js";
import { configCommand } from "../../src/cli/commands/config.js";

let dir: string;
let saved: string | undefined;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "apiary-config-"));
  saved = process.env.APIARY_CONFIG;
  process.env.APIARY_CONFIG = path.join(dir, "config.yaml");
  writeFileSync(
    process.env.APIARY_CONFIG,
    [
      "current-context: lab",
      "contexts:",
      "  lab:",
      "    queen: lab-queen:7833",
      "    ca: pki/ca.crt",
      "    cert: pki/alice.crt",
      "    key: pki/alice.key",
      "    request-timeout: 3s",
      "  prod:",
      "    queen: https://prod-queen:7833",
      "    token: apiary_prod",
    ].join("\n"),
  );
});
afterEach(() => {
  if (saved === undefined) delete process.env.APIARY_CONFIG;
  else process.env.APIARY_CONFIG = saved;
});

const resolve = (argv: string[], env: NodeJS.ProcessEnv = {}) => resolveConnection(parseFlags("hives", queenFlags, argv, env).flags);

describe("connection settings: flags > environment > config file > defaults", () => {
  it("takes the current context, with paths relative to the file and https for a scheme-less queen", async () => {
    const s = await resolve([]);
    expect(s.context).toBe("lab");
    expect(s.url).toBe("https://lab-queen:7833");
    expect(s.credentials).toEqual({ caFile: path.join(dir, "pki/ca.crt"), certFile: path.join(dir, "pki/alice.crt"), keyFile: path.join(dir, "pki/alice.key"), expectServer: { kind: "queen" } });
    expect(s.timeoutMs).toBe(3_000);
  });

  it("lets the environment beat the context and a flag beat the environment", async () => {
    expect((await resolve([], { APIARY_QUEEN: "env-queen:1" })).url).toBe("https://env-queen:1");
    expect((await resolve(["--queen", "flag-queen:2"], { APIARY_QUEEN: "env-queen:1" })).url).toBe("https://flag-queen:2");
    expect((await resolve([], { APIARY_REQUEST_TIMEOUT: "7s" })).timeoutMs).toBe(7_000);
    expect((await resolve(["--request-timeout", "250ms"], { APIARY_REQUEST_TIMEOUT: "7s" })).timeoutMs).toBe(250);
    expect((await resolve(["--ca", "/etc/other-ca.crt"])).credentials.caFile).toBe("/etc/other-ca.crt");
  });

  it("selects another context with --context or APIARY_CONTEXT", async () => {
    const prod = await resolve([], { APIARY_CONTEXT: "prod" });
    expect(prod.url).toBe("https://prod-queen:7833");
    expect(prod.credentials).toEqual({ token: "apiary_prod", expectServer: { kind: "queen" } });
    expect((await resolve(["--context", "lab"], { APIARY_CONTEXT: "prod" })).context).toBe("lab");
    await expect(resolve(["--context", "nope"])).rejects.toThrow(/context nope is not in .*known: lab, prod/);
  });

  it("falls back to plaintext 127.0.0.1:7833 and 10 s without a config file", async () => {
    process.env.APIARY_CONFIG = path.join(dir, "absent.yaml");
    expect(await resolve([])).toEqual({ url: "http://127.0.0.1:7833", urls: ["http://127.0.0.1:7833"], credentials: { expectServer: { kind: "queen" } }, timeoutMs: 10_000, context: undefined });
  });

  it("gives an explicit http:// address no TLS settings", async () => {
    expect((await resolve(["--queen", "http://127.0.0.1:7833"])).credentials).toEqual({ expectServer: { kind: "queen" } });
  });

  it("expects a queen's SPIFFE ID of queens, and of a hive the queen named, that hive's", async () => {
    const hive = await resolveConnection(parseFlags("logs", queenFlags, []).flags, { address: "https://gpu-1:7835", hiveId: "gpu-1" });
    expect(hive.credentials.expectServer).toEqual({ kind: "hive", name: "gpu-1" });
    const direct = await resolveConnection(parseFlags("logs", queenFlags, []).flags, { address: "https://gpu-1:7835" });
    expect(direct.credentials.expectServer).toEqual({ kind: "hive" });
  });

  it("takes several queens from --queen a,b or a context's list", async () => {
    expect((await resolve(["--queen", "q1:1, q2:2"])).urls).toEqual(["https://q1:1", "https://q2:2"]);
    writeFileSync(process.env.APIARY_CONFIG!, "current-context: ha\ncontexts:\n  ha:\n    queen: [http://q1:1, http://q2:2]\n");
    const s = await resolve([]);
    expect(s.urls).toEqual(["http://q1:1", "http://q2:2"]);
    expect(s.url).toBe("http://q1:1,http://q2:2");
    await expect(resolve(["--queen", "q1:1,,q2:2"])).rejects.toThrow(/empty entry/);
  });

  it("reports a malformed file with its path", async () => {
    writeFileSync(process.env.APIARY_CONFIG!, "contexts:\n  lab:\n    qeen: x\n");
    await expect(resolve([])).rejects.toThrow(/config\.yaml: contexts\.lab\.qeen: unknown setting/);
  });
});

describe("apiary config", () => {
  it("use-context switches the current context; set-context stores absolute paths, file 0600", async () => {
    expect(await configCommand.run(parseFlags("config", configCommand.flags, ["use-context", "prod"], {}))).toBe(0);
    expect((await readClientConfig())["current-context"]).toBe("prod");
    await configCommand.run(parseFlags("config", configCommand.flags, ["set-context", "edge", "--queen", "10.0.0.9:7833", "--ca", "rel/ca.crt"], {}));
    const edge = (await readClientConfig()).contexts.edge;
    expect(edge).toEqual({ queen: "10.0.0.9:7833", ca: path.resolve("rel/ca.crt") });
    expect(statSync(configPath()).mode & 0o777).toBe(0o600);
    expect(readFileSync(configPath(), "utf8")).toContain("current-context: prod");
    await expect(configCommand.run(parseFlags("config", configCommand.flags, ["use-context", "nope"], {}))).rejects.toThrow(/no context nope/);
  });

  it("defaults to $XDG_CONFIG_HOME/apiary/config.yaml", () => {
    expect(configPath({ XDG_CONFIG_HOME: "/x" })).toBe("/x/apiary/config.yaml");
    expect(configPath({ APIARY_CONFIG: "/y.yaml", XDG_CONFIG_HOME: "/x" })).toBe("/y.yaml");
  });
});
