import { readFileSync } from "node:fs";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HiveService } from "../../../gen/apiary/v1/hive_pb.js";
import { startHive, type Hive } from "../../../src/hive/hive.js";
import { redactArgv } from "../../../src/hive/workers/redact-secrets.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { waitFor } from "../../helpers/wait.js";
import { captureLogs, tempDir } from "../hive-test-helpers.js";

describe("argv secrets redacted (attack: any reader, hive or dashboard reads a worker's --api-key)", () => {
  it("redacts known secret flags, secret NAME=value arguments and URL passwords; leaves the rest", () => {
    expect(redactArgv(["vllm", "serve", "m", "--api-key", "sk-1", "--hf-token=hf_2", "--max-num-batched-tokens", "4096", "--token", "t3"]))
      .toEqual(["vllm", "serve", "m", "--api-key", "<redacted>", "--hf-token=<redacted>", "--max-num-batched-tokens", "4096", "--token", "<redacted>"]);
    expect(redactArgv(["env", "HF_TOKEN=hf_x", "DB_PASSWORD=p", "OMP_NUM_THREADS=4", "--password", "p2", "--tokenizer", "t"]))
      .toEqual(["env", "HF_TOKEN=<redacted>", "DB_PASSWORD=<redacted>", "OMP_NUM_THREADS=4", "--password", "<redacted>", "--tokenizer", "t"]);
    expect(redactArgv(["--upstream", "https://bob:hunter2@example.com/v1"])).toEqual(["--upstream", "https://bob:<redacted>@example.com/v1"]);
  });

  describe("on a running hive", () => {
    let hive: Hive;
    const logs = captureLogs("info");
    beforeAll(async () => {
      hive = await startHive({ port: 0, gpuEnabled: false, cgroupMode: "none", tickIntervalMs: 100, stateDir: path.join(tempDir("apiary-redact-"), "state"), logger: logs.logger });
    });
    afterAll(async () => hive?.close({ stopWorkers: true }));

    it("ListWorkers, the hive's reports (what the queen gets) and its log lines show <redacted>; the worker gets the value", async () => {
      const client = createClient(HiveService, createApiaryTransport(hive.url));
      const argv = ["/bin/sh", "-c", 'echo "key=$2"; sleep 30', "sh", "--api-key", "sk-live-123"];
      const { worker } = await client.spawnWorker({ argv });
      expect(worker!.argv).toEqual(["/bin/sh", "-c", 'echo "key=$2"; sleep 30', "sh", "--api-key", "<redacted>"]);
      await waitFor(() => readFileSync(worker!.logPath, "utf8").includes("key=sk-live-123"), "the worker to print its key");
      const listed = (await client.listWorkers({})).workers.find((w) => w.workerId === worker!.workerId);
      expect(listed?.argv).not.toContain("sk-live-123");
      const reported = await waitFor(() => hive.monitor.latest()?.workers.find((w) => w.workerId === worker!.workerId), "a report with the worker");
      expect(reported.argv.join(" ")).not.toContain("sk-live-123");
      await client.stopWorker({ workerId: worker!.workerId, gracePeriod: { seconds: 0n } });
      expect(JSON.stringify(logs.lines)).not.toContain("sk-live-123");
    });
  });
});
