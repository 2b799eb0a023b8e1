import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fromJsonString } from "@bufbuild/protobuf";
import { FindWorkersResponseSchema } from "../../gen/apiary/v1/queen_pb.js";
import { waitUntil } from "../helpers/wait.js";
import { isAlive } from "../helpers/processes.js";
import { ApiaryProcess, runApiary } from "./helpers/apiary-process.js";

describe("apiary up", () => {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "apiary-up-"));
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it("runs a queen, a hive and demo workers; SIGINT leaves no worker process or cgroup behind", async () => {
    const up = ApiaryProcess.start([
      "up", "--port", "0", "--hive-port", "0", "--fake-gpus", "2", "--demo-workers", "2", "--state-dir", stateDir,
      "--report-interval", "250ms", "--tick-interval", "250ms", "--cgroup-parent", `apiary-test/up-${process.pid}`,
    ]);
    try {
      const queenUrl = await up.listeningUrl("queen");
      await up.waitFor(/ready\. try:/);
      let res = fromJsonString(FindWorkersResponseSchema, "{}");
      await waitUntil(async () => {
        const out = await runApiary(["workers", "--json", "--queen", queenUrl]);
        res = fromJsonString(FindWorkersResponseSchema, out.stdout);
        return res.matches.length === 2 && res.matches.every((m) => m.worker?.vramUsedBytes !== undefined);
      }, "two demo workers with VRAM in `apiary workers`", 20_000);
      expect(res.matches.map((m) => m.worker?.workerId).sort()).toEqual(["demo-1", "demo-2"]);
      const table = await runApiary(["workers", "--queen", queenUrl]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/demo-1\s+llama-3\.1-8b-instruct\s+running/);

      const pids = res.matches.map((m) => m.worker!.pid);
      const cgroups = res.matches.map((m) => m.worker!.cgroupPath).filter(Boolean);
      up.signal("SIGINT");
      const exit = await up.exited;
      expect(exit.code).toBe(0);
      for (const pid of pids) expect(isAlive(pid)).toBe(false);
      for (const dir of cgroups) expect(existsSync(dir)).toBe(false);
    } finally {
      await up.stop(5000);
    }
  });
});
