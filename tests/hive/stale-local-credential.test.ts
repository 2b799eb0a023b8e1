import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { freePort } from "../../src/common/free-port.js";
import { LOCAL_CREDENTIAL_HEADER, localCredentialFile } from "../../src/rpc/auth/local-credential.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { ApiaryProcess } from "../e2e/helpers/apiary-process.js";

// A hive killed with SIGKILL (OOM killer, kill -9, a crashed node) cannot remove its local credential
// file. The next hive on that port must not reuse the dead secret nor fail to start, the file must be
// 0600 and the hive user's again, and a client meanwhile must get a clear error at once, not a hang.
describe("a local credential file left by a hive killed with SIGKILL", () => {
  const runtimeDir = mkdtempSync(path.join(tmpdir(), "apiary-stale-cred-"));
  chmodSync(runtimeDir, 0o700);
  const env = { APIARY_RUNTIME_DIR: runtimeDir };
  const previous = process.env.APIARY_RUNTIME_DIR;
  process.env.APIARY_RUNTIME_DIR = runtimeDir; // this process's clients read the same directory
  const hives: ApiaryProcess[] = [];
  afterEach(async () => {
    await Promise.all(hives.splice(0).map((h) => h.stop()));
  });
  afterAll(() => {
    if (previous === undefined) delete process.env.APIARY_RUNTIME_DIR;
    else process.env.APIARY_RUNTIME_DIR = previous;
  });

  const startHive = async (port: number): Promise<string> => {
    const state = mkdtempSync(path.join(tmpdir(), "apiary-stale-cred-state-"));
    const hive = ApiaryProcess.start(["hive", "--host", "127.0.0.1", "--port", String(port), "--no-gpu", "--cgroup-mode", "none", "--state-dir", state], env);
    hives.push(hive);
    await hive.listeningUrl("hive");
    const file = localCredentialFile(port, env);
    await expect.poll(() => existsSync(file)).toBe(true);
    return readFileSync(file, "utf8").trim();
  };

  it("is replaced by the next hive with a new secret, 0600 and owned by its user; meanwhile clients fail fast and clearly", async () => {
    const port = await freePort();
    const file = localCredentialFile(port, env);
    const first = await startHive(port);
    const killed = hives.pop()!;
    killed.signal("SIGKILL");
    expect((await killed.exited).signal).toBe("SIGKILL");
    expect(readFileSync(file, "utf8").trim()).toBe(first); // left behind

    const client = createClient(HiveService, createApiaryTransport(`http://127.0.0.1:${port}`));
    const err = await client.stopWorker({ workerId: "w-0" }, { timeoutMs: 10_000 }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.Unavailable);
    expect((err as ConnectError).rawMessage).toContain(`no server listens on port ${port}; ${file} is left from one that did not shut down cleanly`);

    const second = await startHive(port);
    expect(second).not.toBe(first);
    const st = statSync(file);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(process.getuid?.());
    // The dead hive's secret admits nothing on the new one.
    const stale = await fetch(`http://127.0.0.1:${port}/apiary.v1.HiveService/StopWorker`, {
      method: "POST",
      headers: { "content-type": "application/json", [LOCAL_CREDENTIAL_HEADER]: first },
      body: JSON.stringify({ workerId: "w-0" }),
    });
    expect(stale.status).toBe(401);
    // The same client, after its UNAVAILABLE, reads the new file: admitted (no such worker).
    const next = await client.stopWorker({ workerId: "w-0" }).catch((e: unknown) => ConnectError.from(e));
    expect((next as ConnectError).code).toBe(Code.NotFound);
  });
});
