import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { localCredentialCheck } from "../../src/hive/local-credential-guard.js";
import { WriteAudit } from "../../src/hive/write-audit.js";
import { credentialFileReader, LOCAL_CREDENTIAL_HEADER, newLocalToken } from "../../src/rpc/auth/local-credential.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { startTestServer } from "../rpc/support/start-test-server.js";

/** A clock the test moves by hand: what is within the recheck bound and what is past it. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

function credentialDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "apiary-cred-reload-"));
  chmodSync(dir, 0o700);
  return dir;
}

/** Replaces the file the way the hive writes it: a new 0600 file renamed over the old one. */
function rotate(file: string, token: string): void {
  writeFileSync(`${file}.tmp`, `${token}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

describe("credentialFileReader: read once, again only on change, within a bound", () => {
  it("keeps the content without touching the file within recheckMs; sees a rotation or removal right after", () => {
    const file = path.join(credentialDir(), "c");
    rotate(file, "first");
    const clock = manualClock();
    const reader = credentialFileReader(file, { recheckMs: 500, now: clock.now });
    expect(reader.read()).toBe("first");
    rotate(file, "second");
    clock.advance(499);
    expect(reader.read()).toBe("first"); // no stat within the bound: the file is not read per call
    clock.advance(1);
    expect(reader.read()).toBe("second");
    rmSync(file);
    clock.advance(500);
    expect(reader.read()).toBeUndefined();
  });

  it("on the server side, a file opened to group or other counts as none", () => {
    const file = path.join(credentialDir(), "c");
    rotate(file, "secret");
    const clock = manualClock();
    const reader = credentialFileReader(file, { recheckMs: 100, now: clock.now, requirePrivate: true });
    expect(reader.read()).toBe("secret");
    chmodSync(file, 0o644);
    clock.advance(100);
    expect(reader.read()).toBeUndefined();
  });

  it("invalidate() makes the next read look at the file whatever the time", () => {
    const file = path.join(credentialDir(), "c");
    rotate(file, "old");
    const clock = manualClock();
    const reader = credentialFileReader(file, { recheckMs: 60_000, now: clock.now });
    expect(reader.read()).toBe("old");
    rotate(file, "new");
    reader.invalidate();
    expect(reader.read()).toBe("new");
  });
});

// Attack: the guard held the secret it started with; a credential file rotated (or removed) because
// it leaked kept admitting the leaked secret for the hive's whole life.
describe("the hive's local-credential guard admits what the file holds now", () => {
  const clock = manualClock();
  const file = path.join(credentialDir(), "hive.credential");
  const first = newLocalToken();
  let server: RpcServer;
  beforeAll(async () => {
    rotate(file, first);
    const headerCheck = localCredentialCheck(() => file, new WriteAudit(pino({ level: "silent" })), { recheckMs: 1_000, now: clock.now });
    server = await startTestServer({ headerCheck });
  });
  afterAll(async () => server?.close());

  /** StopWorker with this credential: the dummy hive has no StopWorker, so UNIMPLEMENTED means the guard let it through. */
  const stopWith = (token: string) =>
    createClient(HiveService, createApiaryTransport(server.url.replace("127.0.0.1", "localhost")))
      .stopWorker({ workerId: "w1" }, { headers: { [LOCAL_CREDENTIAL_HEADER]: token } })
      .then(() => "ok", (e: unknown) => ConnectError.from(e));

  it("a rotated file stops admitting the old secret within the bound; a removed one admits nothing", async () => {
    expect(((await stopWith(first)) as ConnectError).code).toBe(Code.Unimplemented);
    const second = newLocalToken();
    rotate(file, second);
    clock.advance(1_000);
    const old = (await stopWith(first)) as ConnectError;
    expect(old.code).toBe(Code.Unauthenticated);
    expect(old.rawMessage).toContain("a wrong local credential");
    expect(((await stopWith(second)) as ConnectError).code).toBe(Code.Unimplemented);
    rmSync(file);
    clock.advance(1_000);
    const gone = (await stopWith(second)) as ConnectError;
    expect(gone.code).toBe(Code.Unauthenticated);
    expect(gone.rawMessage).toContain("missing or not private");
  });
});
