import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fromJsonString } from "@bufbuild/protobuf";
import { FindWorkersResponseSchema } from "../../gen/apiary/v1/queen_pb.js";
import { waitUntil } from "../helpers/wait.js";
import { isAlive } from "../helpers/processes.js";
import { ApiaryProcess, runApiary } from "./helpers/apiary-process.js";

function upArgs(stateDir: string, cgroupParent: string): string[] {
  return [
    "up", "--port", "0", "--hive-port", "0", "--fake-gpus", "2", "--demo-workers", "2", "--state-dir", stateDir,
    "--report-interval", "250ms", "--tick-interval", "250ms", "--cgroup-parent", cgroupParent,
  ];
}

function jsonLines(text: string): string[] {
  return text.split("\n").filter((line) => {
    try {
      return typeof JSON.parse(line) === "object";
    } catch {
      return false;
    }
  });
}

async function demoWorkers(queenUrl: string) {
  let res = fromJsonString(FindWorkersResponseSchema, "{}");
  await waitUntil(async () => {
    const out = await runApiary(["workers", "--json", "--queen", queenUrl]);
    res = fromJsonString(FindWorkersResponseSchema, out.stdout);
    return res.matches.length === 2 && res.matches.every((m) => m.worker?.vramUsedBytes !== undefined);
  }, "two demo workers with VRAM in `apiary workers`", 20_000);
  return res.matches.map((m) => m.worker!);
}

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

  it("prints only its own lines, logs to the file it names, and says which workers it re-adopts", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "apiary-up-again-"));
    const cgroupParent = `apiary-test/up-again-${process.pid}`;
    let pids: number[] = [];
    const first = ApiaryProcess.start(upArgs(dir, cgroupParent));
    let second: ApiaryProcess | undefined;
    try {
      const workers = await demoWorkers(await first.listeningUrl("queen"));
      pids = workers.map((w) => w.pid);
      // SIGKILL: no shutdown, so the workers outlive it, as after a crash.
      first.signal("SIGKILL");
      await first.exited;
      for (const pid of pids) expect(isAlive(pid)).toBe(true);

      second = ApiaryProcess.start(upArgs(dir, cgroupParent));
      await second.waitFor(/ready\. try:/);
      expect(second.stderr).toContain("re-adopted 2 running workers from an earlier run: demo-1, demo-2\n");
      expect(second.stderr).not.toMatch(/^demo worker /m);
      const again = await demoWorkers(await second.listeningUrl("queen"));
      expect(again.map((w) => w.pid).sort()).toEqual([...pids].sort());

      second.signal("SIGINT");
      expect((await second.exited).code).toBe(0);
      for (const pid of pids) expect(isAlive(pid)).toBe(false);

      const logFile = path.join(dir, "apiary-up.log");
      for (const run of [first, second]) {
        expect(run.stderr).toContain(`logs: ${logFile} (queen and hive, level info)`);
        expect(jsonLines(run.stdout + run.stderr)).toEqual([]);
      }
      const logged = jsonLines(readFileSync(logFile, "utf8")).map((l) => JSON.parse(l) as { name: string; msg: string });
      expect(logged.some((l) => l.name === "queen" && l.msg === "queen listening")).toBe(true);
      expect(logged.some((l) => l.name === "hive" && l.msg === "worker re-adopted")).toBe(true);
      expect(logged.at(-1)).toMatchObject({ name: "up", msg: "shutdown complete" });
    } finally {
      first.signal("SIGKILL");
      await second?.stop(5000);
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
