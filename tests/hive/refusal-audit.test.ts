import { writeFileSync } from "node:fs";
import path from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { startHive, type Hive } from "../../src/hive/hive.js";
import { DEFAULT_REFUSAL_LOG_LIMITS } from "../../src/hive/refusal-log-limiter.js";
import { newToken, tokenFileLine } from "../../src/rpc/auth/token-store.js";
import { createApiaryTransport, type ClientCredentials } from "../../src/rpc/transport.js";
import { TestPki } from "../rpc/support/test-pki.js";
import { captureLogs, tempDir } from "./hive-test-helpers.js";

// Attack on accountability: a SpawnWorker or StopWorker the authenticator refused (no credentials, a
// stolen-but-revoked or guessed token, a reader's role) left no audit line, only a deduplicated warning:
// who probed the hive's writes was invisible in the audit trail.
describe("refused SpawnWorker and StopWorker reach the hive's audit line", () => {
  let pki: TestPki;
  let hive: Hive;
  let caFile: string;
  const logs = captureLogs("info");
  const readerToken = newToken();

  beforeAll(async () => {
    pki = await TestPki.create();
    caFile = pki.caFile;
    const server = await pki.issue("hive-h1", { kind: "hive", name: "h1" });
    const tokenFile = path.join(pki.dir, "tokens");
    writeFileSync(tokenFile, tokenFileLine("grafana", "reader", readerToken) + "\n");
    hive = await startHive({
      port: 0,
      hiveId: "h1",
      gpuEnabled: false,
      cgroupMode: "none",
      stateDir: path.join(tempDir("apiary-refusal-audit-"), "state"),
      logger: logs.logger,
      security: { tls: { certFile: server.cert, keyFile: server.key, clientCaFile: pki.caFile }, tokenFile },
    });
  });
  afterAll(async () => hive?.close({ stopWorkers: true }));

  const client = (credentials: ClientCredentials) => createClient(HiveService, createApiaryTransport(hive.url, { credentials }));
  const codeOf = (p: Promise<unknown>) => p.then(() => "ok" as const, (e: unknown) => ConnectError.from(e).code);
  const audit = () => logs.lines.filter((l) => l.component === "audit");

  it("records who tried, what, and the refusal's code: unauthenticated, bad token, wrong role", async () => {
    expect(await codeOf(client({ caFile }).spawnWorker({ argv: ["/bin/true"] }))).toBe(Code.Unauthenticated);
    expect(await codeOf(client({ caFile, token: newToken() }).spawnWorker({ argv: ["/bin/true"] }))).toBe(Code.Unauthenticated);
    expect(await codeOf(client({ caFile, token: readerToken }).stopWorker({ workerId: "w-1" }))).toBe(Code.PermissionDenied);
    expect(await codeOf(client({ caFile, token: readerToken }).stopWorker({ workerId: "w-2" }))).toBe(Code.PermissionDenied);

    const spawns = audit().filter((l) => l.audit === "SpawnWorker");
    expect(spawns.map((l) => [l.caller, l.outcome])).toEqual([
      ["anonymous", "Unauthenticated"],
      ["anonymous", "Unauthenticated"],
    ]);
    expect(String(spawns[0]!.message)).toContain("no credentials");
    expect(String(spawns[1]!.message)).toContain("bearer token not recognised");
    for (const line of spawns) expect(line.peer).toBe("127.0.0.1");
    // Every refusal is a line (the denial warning is logged once per peer and reason; the audit is not).
    const stops = audit().filter((l) => l.audit === "StopWorker");
    expect(stops.map((l) => [l.caller, l.outcome])).toEqual([
      ["client/reader/grafana", "PermissionDenied"],
      ["client/reader/grafana", "PermissionDenied"],
    ]);
  });

  it("audits writes only: a refused read is no audit line", async () => {
    const before = audit().length;
    expect(await codeOf(client({ caFile }).listWorkers({}))).toBe(Code.Unauthenticated);
    expect(audit().length).toBe(before);
  });

  // Attack on the hive's disk and log: one line per refused write, at no cost to a client with no credential.
  it("a flood of 300 refused writes from one peer gets a bounded number of audit lines (one per refusal before)", async () => {
    const before = audit().length;
    const anonymous = client({ caFile });
    const started = performance.now();
    for (let i = 0; i < 300; i++) expect(await codeOf(anonymous.spawnWorker({ argv: ["/bin/true"] }))).toBe(Code.Unauthenticated);
    const elapsedS = (performance.now() - started) / 1000;
    const lines = audit().slice(before);
    // The burst, one line per second the flood lasted, one summary per 10 s: the bound follows the
    // flood's own duration, so a slow machine does not make it flaky.
    const { perPeerBurst, perPeerPerSecond } = DEFAULT_REFUSAL_LOG_LIMITS;
    const bound = perPeerBurst + Math.ceil(elapsedS * perPeerPerSecond) + Math.ceil(elapsedS / 10) + 1;
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(Math.min(bound, 299));
  });
});

