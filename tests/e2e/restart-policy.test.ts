import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import { Cluster } from "./helpers/cluster.js";
import { runApiary } from "./helpers/apiary-process.js";
import { waitFor } from "../helpers/wait.js";

describe("apiary spawn --restart (real queen, hive and crash-looping worker)", () => {
  const cluster = new Cluster();
  const id = `crashloop-${process.pid}`;

  beforeAll(async () => {
    await cluster.startQueen();
    await cluster.startHive();
  }, 240_000);
  afterAll(() => cluster.cleanup(), 60_000);

  it("restarts a worker that exits non-zero with back-off, shows why, and stops it for good", async () => {
    const spawn = await runApiary(["spawn", "--hive", cluster.hiveUrl, "--id", id, "--restart", "on-failure", "--", "sh", "-c", "echo run; exit 3"]);
    expect(spawn.code).toBe(0);
    const seen = await waitFor(async () => {
      const res = await cluster.queenClient.findWorkers({ state: WorkerState.BACKOFF, hiveIds: [cluster.hiveId] });
      return res.matches.find((m) => m.worker?.workerId === id && m.worker.restartCount >= 1)?.worker;
    }, "the queen to see the worker back off after a restart", 120_000, 100);
    expect(seen.lastExit).toMatchObject({ state: WorkerState.FAILED, exitCode: 3, reason: "exited with code 3" });

    const [described, listed, badPolicy] = await Promise.all([
      runApiary(["describe", "worker", id, "--queen", cluster.queenUrl]),
      runApiary(["workers", "--state", "backoff", "--queen", cluster.queenUrl]),
      runApiary(["spawn", "--hive", cluster.hiveUrl, "--restart", "sometimes", "--", "true"]),
    ]);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/^Restart policy: +on-failure$/m);
    expect(described.stdout).toMatch(/^Restarts: +[1-9]\d*$/m);
    expect(described.stdout).toMatch(/^Last exit: +failed \(exit code 3\): exited with code 3/m);
    expect(described.stdout).toMatch(/Warning +BackOff +\d+ +exited with code 3; restart \d+ at /);
    expect(described.stdout).toMatch(/Normal +Restarted +\d+ +restart \d+, pid \d+/);
    expect(listed.stdout).toContain(id);
    expect(badPolicy.code).toBe(2);
    expect(badPolicy.stderr).toContain("--restart sometimes: expected one of never, on-failure, always");

    const stopped = await runApiary(["stop", id, "--hive", cluster.hiveUrl, "--grace", "1s"]);
    expect(stopped.stdout).toMatch(new RegExp(`^stopped ${id}: failed \\(exit code 3\\)`));
    const after = await cluster.hiveClient.listWorkers({});
    expect(after.workers.filter((w) => w.workerId === id && w.state === WorkerState.BACKOFF)).toEqual([]);
  }, 300_000);
});
