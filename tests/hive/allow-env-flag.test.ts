import { readFileSync } from "node:fs";
import path from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { hiveCommand } from "../../src/cli/commands/hive.js";
import { hiveIdentity } from "../../src/cli/hive-flags.js";
import { parseFlags } from "../../src/cli/parse-flags.js";
import { startHive, type Hive } from "../../src/hive/hive.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { waitFor } from "../helpers/wait.js";
import { tempDir } from "./hive-test-helpers.js";

// Attack: code run under an allowed program through SpawnWorker's env. --allow-env widens what a
// request may pass; it can never admit a loader, shell or interpreter hook.
describe("apiary hive --allow-env", () => {
  let hive: Hive;
  beforeAll(async () => {
    const { flags } = parseFlags("hive", hiveCommand.flags, ["--allow-env", "MY_*", "--allow-env", "*", "--port", "0"], {});
    const identity = hiveIdentity(flags);
    expect(identity.allowEnv).toContain("MY_*");
    hive = await startHive({
      ...identity,
      host: "127.0.0.1",
      gpuEnabled: false,
      cgroupMode: "none",
      stateDir: path.join(tempDir("apiary-allow-env-"), "state"),
      logger: pino({ level: "silent" }),
    });
  });
  afterAll(async () => hive?.close({ stopWorkers: true }));

  it("passes a variable the flag admits to the worker", async () => {
    const client = createClient(HiveService, createApiaryTransport(hive.url));
    const { worker } = await client.spawnWorker({ argv: ["/bin/sh", "-c", 'echo "MY_FLAG=$MY_FLAG"; sleep 30'], env: { MY_FLAG: "on" } });
    await waitFor(() => readFileSync(worker!.logPath, "utf8").includes("MY_FLAG=on"), "the worker to print MY_FLAG");
    await client.stopWorker({ workerId: worker!.workerId, gracePeriod: { seconds: 0n } });
  });

  it("still refuses LD_PRELOAD, BASH_ENV, PYTHONWARNINGS and PATH when a glob of the flag admits everything", async () => {
    const client = createClient(HiveService, createApiaryTransport(hive.url));
    for (const name of ["LD_PRELOAD", "BASH_ENV", "PYTHONWARNINGS", "NODE_OPTIONS", "PATH"]) {
      const err = await client.spawnWorker({ argv: ["/bin/true"], env: { [name]: "/tmp/evil.so" } }).catch((e: unknown) => ConnectError.from(e));
      expect((err as ConnectError).code, name).toBe(Code.InvalidArgument);
      expect((err as ConnectError).rawMessage, name).toContain(`env[${name}]`);
    }
    expect(hive.supervisor.runningCount).toBe(0); // nothing was started
  });
});
