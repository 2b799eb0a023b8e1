import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { RestartPolicy, WorkerState, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { RestartBackoff, wantsRestart } from "../../../src/hive/workers/restart-policy.js";
import type { WorkerSupervisor } from "../../../src/hive/workers/worker-supervisor.js";
import { demoArgv, spawnRequest, SupervisorFixture } from "./supervisor-fixture.js";
import { waitFor } from "../../helpers/wait.js";

const FAST = { baseMs: 100, capMs: 400, stableMs: 60_000 };

function memoryCgroupWritable(): boolean {
  try {
    accessSync("/sys/fs/cgroup/memory/cgroup.procs", constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function worker(sup: WorkerSupervisor, id: string): WorkerTelemetry | undefined {
  return sup.list().find((w) => w.workerId === id);
}

/** Samples (as the hive's monitor does every tick) until `check` holds for the worker. */
async function until(sup: WorkerSupervisor, id: string, what: string, check: (w: WorkerTelemetry) => boolean): Promise<WorkerTelemetry> {
  return waitFor(async () => {
    // An ended worker is in one sample only (then dropped); a live one is also in list().
    const w = (await sup.sample()).find((s) => s.telemetry.workerId === id)?.telemetry ?? worker(sup, id);
    return w && check(w) ? w : undefined;
  }, `${id}: ${what}`, 60_000, 50);
}

describe("restart back-off (the project's backoff helper)", () => {
  it("doubles up to the cap, in the upper half of each window, and resets after a stable run", () => {
    const low = new RestartBackoff({ ...FAST, random: () => 0 });
    expect([low.next(0), low.next(0), low.next(0), low.next(0), low.next(0)]).toEqual([50, 100, 200, 200, 200]);
    expect(low.failures).toBe(5);
    expect(low.next(60_000)).toBe(50); // the run that just ended lasted the stable period
    const high = new RestartBackoff({ ...FAST, random: () => 0.999 });
    expect([high.next(0), high.next(0), high.next(0), high.next(0)]).toEqual([99, 199, 399, 399]);
  });

  it("restarts on failure only under on-failure, on any end under always, never under never", () => {
    expect(wantsRestart(RestartPolicy.ON_FAILURE, WorkerState.FAILED)).toBe(true);
    expect(wantsRestart(RestartPolicy.ON_FAILURE, WorkerState.EXITED)).toBe(false);
    expect(wantsRestart(RestartPolicy.ALWAYS, WorkerState.EXITED)).toBe(true);
    expect(wantsRestart(RestartPolicy.NEVER, WorkerState.FAILED)).toBe(false);
  });
});

describe("restart policies (real processes, real v1 cgroups)", () => {
  let fx: SupervisorFixture;
  beforeEach(() => {
    fx = new SupervisorFixture();
  });
  afterEach(async () => fx.dispose());

  it("on-failure: a worker exiting non-zero backs off, restarts with a count, and StopWorker ends it for good", async () => {
    const sup = await fx.start({ restart: FAST });
    await sup.spawn(spawnRequest({ workerId: "crash", argv: ["sh", "-c", "echo run; exit 3"], restartPolicy: RestartPolicy.ON_FAILURE, env: { HF_X: "1" } }));
    const backoff = await until(sup, "crash", "in back-off after a restart", (w) => w.state === WorkerState.BACKOFF && w.restartCount >= 2);
    expect(backoff.lastExit).toMatchObject({ state: WorkerState.FAILED, exitCode: 3, reason: "exited with code 3" });
    expect(backoff.nextRestartAt).toBeDefined();
    expect(backoff.restartPolicy).toBe(RestartPolicy.ON_FAILURE);
    // Every run appends to the same log.
    expect((readFileSync(fx.stateDir + "/logs/crash.log", "utf8").match(/^run$/gm) ?? []).length).toBeGreaterThanOrEqual(3);
    expect(sup.isActive("crash")).toBe(true);

    const stopped = await sup.stop("crash", 1000);
    expect(stopped).toMatchObject({ state: WorkerState.FAILED, exitCode: 3 });
    const count = stopped.restartCount;
    expect(sup.isActive("crash")).toBe(false);
    expect(existsSync(`${fx.stateDir}/workers/crash.json`)).toBe(false);
    await sup.sample();
    expect(worker(sup, "crash")).toBeUndefined(); // reported once, then gone: not started again
    expect((await sup.spawn(spawnRequest({ workerId: "crash", argv: ["true"] }))).restartCount).toBe(0);
    expect(count).toBeGreaterThanOrEqual(2);
  }, 90_000);

  it("on-failure leaves a worker that exits 0 ended; always restarts it", async () => {
    const sup = await fx.start({ restart: FAST });
    await sup.spawn(spawnRequest({ workerId: "done", argv: ["true"], restartPolicy: RestartPolicy.ON_FAILURE }));
    await sup.spawn(spawnRequest({ workerId: "again", argv: ["true"], restartPolicy: RestartPolicy.ALWAYS }));
    const done = await until(sup, "done", "ended", (w) => w.state === WorkerState.EXITED);
    expect(done).toMatchObject({ exitCode: 0, restartCount: 0 });
    const again = await until(sup, "again", "restarted twice", (w) => w.restartCount >= 2);
    expect(again.lastExit).toMatchObject({ state: WorkerState.EXITED, exitCode: 0 });
  }, 90_000);

  it.runIf(memoryCgroupWritable())("on-failure restarts an OOM-killed worker and says it was OOM-killed", async () => {
    const sup = await fx.start({ restart: FAST });
    await sup.spawn(spawnRequest({ workerId: "oom", argv: demoArgv("--memory", "256MiB"), limits: { memoryMaxBytes: 64n << 20n }, restartPolicy: RestartPolicy.ON_FAILURE }));
    const w = await until(sup, "oom", "OOM-killed and restarted", (t) => t.restartCount >= 1 && t.lastExit !== undefined);
    expect(w.lastExit).toMatchObject({ state: WorkerState.FAILED, exitSignal: "SIGKILL", reason: expect.stringMatching(/^OOM-killed/) });
    expect(readFileSync(`${fx.cgroupDir("memory", "oom")}/memory.limit_in_bytes`, "utf8").trim()).toBe(String(64 << 20)); // the new run has its limit again
  }, 90_000);

  it("a restarted hive keeps the policy of the workers it re-adopts, and restarts one that ended meanwhile", async () => {
    const first = await fx.start({ restart: FAST });
    const spawned = await first.spawn(spawnRequest({ workerId: "kept", argv: ["sleep", "600"], restartPolicy: RestartPolicy.ON_FAILURE }));
    await first.close({ stopWorkers: false });

    const second = await fx.start({ restart: FAST });
    expect(worker(second, "kept")).toMatchObject({ pid: spawned.pid, restartPolicy: RestartPolicy.ON_FAILURE, restartCount: 0 });
    process.kill(spawned.pid, "SIGKILL");
    const restarted = await until(second, "kept", "restarted by the re-adopting hive", (w) => w.restartCount === 1 && w.state !== WorkerState.BACKOFF);
    expect(restarted.pid).not.toBe(spawned.pid);
    expect(restarted.lastExit?.state).toBe(WorkerState.FAILED);

    // Down while the worker is dead: the next hive starts it again by its policy.
    await second.close({ stopWorkers: false });
    process.kill(restarted.pid, "SIGKILL");
    await waitFor(() => !existsSync(`/proc/${restarted.pid}/stat`) || readFileSync(`/proc/${restarted.pid}/stat`, "utf8").split(" ")[2] === "Z", "the worker to die", 10_000);
    const third = await fx.start({ restart: FAST });
    const again = await until(third, "kept", "restarted after the hive came back", (w) => w.restartCount === 2);
    expect(again.restartPolicy).toBe(RestartPolicy.ON_FAILURE);
  }, 90_000);

  it("rejects an unknown restart_policy naming the field", async () => {
    const sup = await fx.start();
    const err = await sup.spawn(spawnRequest({ argv: ["true"], restartPolicy: 9 as RestartPolicy })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect(err).toMatchObject({ code: Code.InvalidArgument, rawMessage: "restart_policy: unknown value 9" });
  });
});
