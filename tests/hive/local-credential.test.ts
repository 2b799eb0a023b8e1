import { execFile } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { startHive, type Hive } from "../../src/hive/hive.js";
import { LOCAL_CREDENTIAL_HEADER, localCredentialFile } from "../../src/rpc/auth/local-credential.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { captureLogs, tempDir } from "./hive-test-helpers.js";

const run = promisify(execFile);

/** What any local process can do: a Connect JSON POST to 127.0.0.1 with a loopback Host. */
function post(port: number, method: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/apiary.v1.HiveService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

// Attack: a plaintext hive on loopback (the default, `apiary up`) trusted every local process: another
// user, a worker, or a page in the operator's browser posting to 127.0.0.1 could SpawnWorker as root.
describe("local credential for the hive's writes (plaintext loopback is not a trust boundary)", () => {
  let hive: Hive;
  const logs = captureLogs("info");
  const marker = path.join(tempDir("apiary-local-cred-"), "pwned");
  beforeAll(async () => {
    hive = await startHive({ port: 0, gpuEnabled: false, cgroupMode: "none", stateDir: path.join(tempDir("apiary-local-cred-"), "state"), logger: logs.logger });
  });
  afterAll(async () => hive?.close({ stopWorkers: true }));

  it("writes the credential to a 0600 file in a 0700 directory, named by the port", () => {
    const file = localCredentialFile(hive.server.port);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
  });

  it("refuses SpawnWorker and StopWorker without the credential or with a wrong one; reads stay open", async () => {
    const spawn = await post(hive.server.port, "SpawnWorker", { argv: ["/bin/sh", "-c", `id > ${marker}`] });
    expect(spawn.status).toBe(401);
    expect(((await spawn.json()) as { message: string }).message).toContain("need its local credential");
    const wrong = await post(hive.server.port, "SpawnWorker", { argv: ["/bin/true"] }, { [LOCAL_CREDENTIAL_HEADER]: "apiary_local_guess" });
    expect(wrong.status).toBe(401);
    expect((await post(hive.server.port, "StopWorker", { workerId: "x" })).status).toBe(401);
    expect((await post(hive.server.port, "ListWorkers", {})).status).toBe(200);
    expect(existsSync(marker)).toBe(false);
    expect(hive.supervisor.list()).toEqual([]);
  });

  it("refuses a process of another local user, which cannot read the file", async () => {
    if (process.getuid?.() !== 0) throw new Error("this test needs root to run a process as another user");
    const file = localCredentialFile(hive.server.port);
    const script = `
      const fs = require("fs");
      let read = "read";
      try { fs.readFileSync(${JSON.stringify(file)}); } catch (e) { read = e.code; }
      fetch("http://127.0.0.1:${hive.server.port}/apiary.v1.HiveService/SpawnWorker", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ argv: ["/bin/true"] }),
      }).then((r) => console.log(read, r.status));`;
    const { stdout } = await run(process.execPath, ["-e", script], { uid: 65534, gid: 65534, cwd: "/" });
    expect(stdout.trim()).toBe("EACCES 401");
  });

  it("lets a client of the hive's own user through: apiary's transport reads the file for loopback URLs", async () => {
    const client = createClient(HiveService, createApiaryTransport(hive.url));
    const { worker } = await client.spawnWorker({ argv: ["/bin/sleep", "30"] });
    await client.stopWorker({ workerId: worker!.workerId, gracePeriod: { seconds: 0n } });
    const err = await createClient(HiveService, createApiaryTransport(hive.url.replace("127.0.0.1", "127.0.0.2")))
      .spawnWorker({ argv: ["/bin/true"] })
      .catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code === Code.Unauthenticated || (err as ConnectError).code === Code.Unavailable).toBe(true);
  });

  it("audits every SpawnWorker and StopWorker, refused or allowed, with caller, peer, program and outcome", () => {
    const audit = logs.lines.filter((l) => l.component === "audit");
    expect(audit.some((l) => l.audit === "SpawnWorker" && l.caller === "anonymous" && l.outcome === "Unauthenticated")).toBe(true);
    expect(audit.some((l) => l.audit === "StopWorker" && l.caller === "anonymous" && l.outcome === "Unauthenticated")).toBe(true);
    const ok = audit.find((l) => l.audit === "SpawnWorker" && l.outcome === "OK");
    expect(ok).toMatchObject({ caller: "local", argv: ["/bin/sleep", "30"] });
    expect(String(ok?.peer)).toMatch(/127\.0\.0\.1/);
    expect(audit.some((l) => l.audit === "StopWorker" && l.outcome === "OK" && l.caller === "local")).toBe(true);
  });

  it("removes the file when the hive stops", async () => {
    const file = localCredentialFile(hive.server.port);
    await hive.close({ stopWorkers: true });
    expect(existsSync(file)).toBe(false);
  });
});
