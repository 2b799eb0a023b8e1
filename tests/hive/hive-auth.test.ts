import { writeFileSync } from "node:fs";
import path from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import { startHive, type Hive } from "../../src/hive/hive.js";
import { newToken, tokenFileLine } from "../../src/rpc/auth/token-store.js";
import { createApiaryTransport, type ClientCredentials } from "../../src/rpc/transport.js";
import { TestPki, type IssuedFiles } from "../rpc/support/test-pki.js";
import { tempDir } from "./hive-test-helpers.js";

let pki: TestPki;
let hive: Hive;
let admin: IssuedFiles;
let reader: IssuedFiles;
let queenCert: IssuedFiles;
let otherHive: IssuedFiles;
const adminToken = newToken();
const readerToken = newToken();

beforeAll(async () => {
  pki = await TestPki.create();
  const server = await pki.issue("hive-h1", { kind: "hive", name: "h1" });
  admin = await pki.issue("admin", { kind: "client", name: "root", role: "admin" });
  reader = await pki.issue("reader", { kind: "client", name: "viewer", role: "reader" });
  queenCert = await pki.issue("queen", { kind: "queen", name: "main" });
  otherHive = await pki.issue("hive-h2", { kind: "hive", name: "h2" });
  const tokenFile = path.join(pki.dir, "tokens");
  writeFileSync(tokenFile, [tokenFileLine("ops", "admin", adminToken), tokenFileLine("grafana", "reader", readerToken)].join("\n") + "\n");
  hive = await startHive({
    port: 0,
    hiveId: "h1",
    gpuEnabled: false,
    cgroupMode: "none",
    stateDir: path.join(tempDir("apiary-hive-auth-"), "state"),
    tickIntervalMs: 200,
    logger: pino({ level: "silent" }),
    security: { tls: { certFile: server.cert, keyFile: server.key, clientCaFile: pki.caFile }, tokenFile },
    allowPrograms: ["/bin/sleep", "/usr/bin/sleep", "/opt/never-there/**"],
  });
});
afterAll(async () => {
  await hive?.close({ stopWorkers: true });
});

function hiveClient(credentials: ClientCredentials) {
  return createClient(HiveService, createApiaryTransport(hive.url, { credentials }));
}
const cert = (f: IssuedFiles): ClientCredentials => ({ caFile: pki.caFile, certFile: f.cert, keyFile: f.key });

async function spawnCode(credentials: ClientCredentials, argv = ["sleep", "30"]): Promise<Code | "ok"> {
  try {
    const res = await hiveClient(credentials).spawnWorker({ argv });
    await hiveClient(cert(admin)).stopWorker({ workerId: res.worker!.workerId, gracePeriod: { seconds: 0n } });
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

async function listCode(credentials: ClientCredentials): Promise<Code | "ok"> {
  return hiveClient(credentials).listWorkers({}).then(() => "ok" as const, (err: unknown) => ConnectError.from(err).code);
}

describe("HiveService authorisation", () => {
  it("advertises an https endpoint", () => {
    expect(hive.url).toMatch(/^https:\/\//);
    expect(hive.info.endpoint).toBe(hive.url);
  });

  it("lets an admin certificate, the queen and an admin token spawn and stop workers", async () => {
    expect(await spawnCode(cert(admin))).toBe("ok");
    expect(await spawnCode(cert(queenCert))).toBe("ok");
    expect(await spawnCode({ caFile: pki.caFile, token: adminToken })).toBe("ok");
  });

  it("refuses SpawnWorker to a reader (certificate or token) and to another hive with PERMISSION_DENIED", async () => {
    expect(await spawnCode(cert(reader))).toBe(Code.PermissionDenied);
    expect(await spawnCode({ caFile: pki.caFile, token: readerToken })).toBe(Code.PermissionDenied);
    expect(await spawnCode(cert(otherHive))).toBe(Code.PermissionDenied);
    const err = await hiveClient(cert(reader)).stopWorker({ workerId: "x" }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.PermissionDenied);
    expect((err as ConnectError).rawMessage).toContain("client/reader/viewer may not do this: it needs a client with role admin, or a queen");
  });

  it("lets readers list workers; refuses a caller without credentials or with a wrong token", async () => {
    expect(await listCode(cert(reader))).toBe("ok");
    expect(await listCode({ caFile: pki.caFile, token: readerToken })).toBe("ok");
    expect(await listCode(cert(otherHive))).toBe(Code.PermissionDenied);
    expect(await listCode({ caFile: pki.caFile })).toBe(Code.Unauthenticated);
    expect(await listCode({ caFile: pki.caFile, token: newToken() })).toBe(Code.Unauthenticated);
  });

  it("the allow-list refuses a program outside it with PERMISSION_DENIED naming the program", async () => {
    const err = await hiveClient(cert(admin)).spawnWorker({ argv: ["sh", "-c", "id"] }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.PermissionDenied);
    expect((err as ConnectError).rawMessage).toMatch(/argv\[0\]: program sh \(\/\S+\) is an interpreter or shell/);
    // A PATH of the caller's choosing cannot smuggle another program in under an allowed name.
    const dir = tempDir("apiary-allow-");
    writeFileSync(path.join(dir, "sleep"), "#!/bin/sh\necho owned\n", { mode: 0o755 });
    const smuggled = await hiveClient(cert(admin))
      .spawnWorker({ argv: ["sleep", "1"], env: { PATH: dir } })
      .catch((e: unknown) => ConnectError.from(e));
    expect((smuggled as ConnectError).code).toBe(Code.InvalidArgument); // env[PATH] is the hive's own
    expect(hive.supervisor.list().filter((w) => w.state === WorkerState.STARTING || w.state === WorkerState.RUNNING)).toEqual([]);
  });
});
