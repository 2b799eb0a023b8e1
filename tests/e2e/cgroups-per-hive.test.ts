import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { fromJsonString } from "@bufbuild/protobuf";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { FindWorkersResponseSchema } from "../../gen/apiary/v1/queen_pb.js";
import { startHive, type Hive } from "../../src/hive/hive.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { isAlive } from "../helpers/processes.js";
import { waitUntil } from "../helpers/wait.js";
import { demoWorker, fakeNvidiaSmi } from "../hive/hive-test-helpers.js";
import { ApiaryProcess, runApiary } from "./helpers/apiary-process.js";

/** `npm test` beside `npm start`: a second hive on the machine never touches the demo's workers. */
describe("hives never share cgroups", () => {
  const dirs: string[] = [];
  const tmp = (prefix: string) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("a hive with a worker of the same id as a running `apiary up` demo worker, stopped, leaves the demo's worker alive", async () => {
    const upId = `up-demo-${randomBytes(3).toString("hex")}`;
    // The default cgroup parent, as `npm start` runs it (a unique hive id, so a real demo on this machine is not involved).
    const up = ApiaryProcess.start(
      ["up", "--port", "0", "--hive-port", "0", "--fake-gpus", "1", "--demo-workers", "1", "--state-dir", tmp("apiary-up-"), "--report-interval", "250ms", "--tick-interval", "250ms"],
      { APIARY_HIVE_ID: upId, APIARY_CGROUP_PARENT: "" },
    );
    const hives: Hive[] = [];
    let demo = { pid: 0, cgroupPath: "" };
    try {
      const queenUrl = await up.listeningUrl("queen");
      await up.waitFor(/ready\. try:/);
      await waitUntil(async () => {
        const res = fromJsonString(FindWorkersResponseSchema, (await runApiary(["workers", "--json", "--queen", queenUrl])).stdout);
        const w = res.matches.find((m) => m.worker?.workerId === "demo-1")?.worker;
        if (w) demo = { pid: w.pid, cgroupPath: w.cgroupPath };
        return w !== undefined;
      }, "demo-1 in apiary workers", 20_000);
      expect(isAlive(demo.pid)).toBe(true);
      if (demo.cgroupPath !== "") expect(demo.cgroupPath).toMatch(new RegExp(`/apiary/${upId}/demo-1$`));

      const startTestHive = async (cgroupParent: string | undefined, hiveId: string) => {
        const hive = await startHive({
          port: 0, hiveId, cgroupParent, nvidiaSmiPath: fakeNvidiaSmi, gpuEnabled: false,
          stateDir: tmp("apiary-hive-"), tickIntervalMs: 200, logger: pino({ level: "silent" }),
        });
        hives.push(hive);
        return createClient(HiveService, createApiaryTransport(hive.url));
      };

      // A test hive with its own parent: its demo-1 is a different cgroup.
      const own = await startTestHive(`apiary-test/${randomBytes(3).toString("hex")}`, "test-hive");
      const { worker } = await own.spawnWorker({ argv: [process.execPath, demoWorker], workerId: "demo-1" });
      expect(worker!.cgroupPath === "" || worker!.cgroupPath !== demo.cgroupPath).toBe(true);
      await own.stopWorker({ workerId: "demo-1", gracePeriod: { seconds: 2n, nanos: 0 } });
      expect(isAlive(worker!.pid)).toBe(false);
      expect(isAlive(demo.pid)).toBe(true);

      // A hive told to use the demo's parent: its demo-1 cgroup holds the demo's process, so it is refused.
      if (demo.cgroupPath !== "") {
        const same = await startTestHive(`apiary/${upId}`, "same-parent");
        const err = await same.spawnWorker({ argv: [process.execPath, demoWorker], workerId: "demo-1" }).then(() => undefined, (e: unknown) => ConnectError.from(e));
        expect(err && Code[err.code]).toBe(Code[Code.FailedPrecondition]);
        expect(err?.rawMessage).toMatch(/already holds processes of another worker/);
        expect(isAlive(demo.pid)).toBe(true);
      }
      for (const hive of hives.splice(0)) await hive.close({ stopWorkers: true });
      expect(isAlive(demo.pid)).toBe(true);
    } finally {
      for (const hive of hives) await hive.close({ stopWorkers: true });
      up.signal("SIGINT"); // as Ctrl-C: up stops its workers
      const kill = setTimeout(() => up.signal("SIGKILL"), 20_000);
      await up.exited;
      clearTimeout(kill);
    }
    await waitUntil(() => !isAlive(demo.pid), "apiary up to stop its demo worker");
    // With its last worker gone, the hive's own parent group went too (the shared level above stays).
    if (demo.cgroupPath !== "") {
      expect(existsSync(path.dirname(demo.cgroupPath))).toBe(false);
      expect(existsSync(path.dirname(path.dirname(demo.cgroupPath)))).toBe(true);
    }
  });
});
