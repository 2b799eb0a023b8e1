import { Code, ConnectError } from "@connectrpc/connect";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WorkerState, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { V1_CONTROLLERS } from "../../../src/hive/cgroup/cgroup-v1-driver.js";
import type { WorkerSupervisor } from "../../../src/hive/workers/worker-supervisor.js";
import { demoArgv, find, spawnRequest, SupervisorFixture, waitReady } from "./supervisor-fixture.js";
import { isAlive } from "../../helpers/processes.js";
import { waitFor } from "../../helpers/wait.js";

async function expectConnectError(promise: Promise<unknown>, code: Code, message: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectError);
  expect((err as ConnectError).code).toBe(code);
  expect((err as ConnectError).rawMessage).toMatch(message);
}

/** Samples until the worker shows up ended; returns that report. */
async function sampleUntilEnded(sup: WorkerSupervisor, workerId: string): Promise<WorkerTelemetry> {
  return waitFor(async () => {
    const t = find(await sup.sample(), workerId)?.telemetry;
    return t && (t.state === WorkerState.EXITED || t.state === WorkerState.FAILED) ? t : undefined;
  }, `${workerId} to be reported ended`, 30_000);
}

describe("WorkerSupervisor lifecycle (real processes, real v1 cgroups)", () => {
  let fx: SupervisorFixture;
  beforeEach(() => {
    fx = new SupervisorFixture();
  });
  afterEach(async () => fx.dispose());

  it("never puts a worker in a cgroup that holds another worker's processes (two hives, one cgroup parent)", async () => {
    const first = await fx.start();
    const other = await fx.start({ stateDir: mkdtempSync(join(tmpdir(), "apiary-sup-other-")) });
    const t = await first.spawn(spawnRequest({ argv: demoArgv(), workerId: "twin" }));
    await waitReady(t);
    await expectConnectError(other.spawn(spawnRequest({ argv: demoArgv(), workerId: "twin" })), Code.FailedPrecondition, /^worker_id: cgroup .*\/twin already holds processes of another worker \(pids \d+/);
    expect(other.list().map((w) => w.workerId)).toEqual([]);
    await other.close({ stopWorkers: true, graceMs: 0 });
    expect(isAlive(t.pid)).toBe(true);
    expect(readFileSync(`${fx.cgroupDir("memory", "twin")}/cgroup.procs`, "utf8")).toContain(String(t.pid));
  });

  it("spawns in the worker's cgroup with its env, log and state file", async () => {
    const sup = await fx.start();
    const t = await sup.spawn(
      spawnRequest({ workerId: "w1", argv: demoArgv("--model", "m"), gpuUuids: ["GPU-a", "GPU-b"], env: { HF_HOME: "/tmp/hf" }, labels: { team: "x" } }),
    );
    expect(t).toMatchObject({ workerId: "w1", model: "m", state: WorkerState.STARTING, labels: { team: "x" }, cgroupPath: fx.cgroupDir("memory", "w1") });
    for (const controller of V1_CONTROLLERS) {
      expect(readFileSync(`${fx.cgroupDir(controller, "w1")}/cgroup.procs`, "utf8").split("\n")).toContain(String(t.pid));
    }
    const env = readFileSync(`/proc/${t.pid}/environ`, "utf8").split("\0");
    expect(env).toContain("CUDA_VISIBLE_DEVICES=GPU-a,GPU-b");
    expect(env).toContain("HF_HOME=/tmp/hf");
    // Nothing of the hive's own environment is inherited.
    expect(env.filter((e) => e.startsWith("VITEST"))).toEqual([]);
    expect(statSync(t.logPath).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(t.logPath)).mode & 0o777).toBe(0o700);
    expect(existsSync(`${fx.stateDir}/workers/w1.json`)).toBe(true);
    await waitReady(t);
    expect(t.logPath).toBe(`${fx.stateDir}/logs/w1.log`);
    expect(sup.list().map((w) => w.workerId)).toEqual(["w1"]);
  });

  it("rejects bad requests naming the field, and duplicate ids", async () => {
    const sup = await fx.start();
    await expectConnectError(sup.spawn(spawnRequest({ argv: [] })), Code.InvalidArgument, /^argv: /);
    await expectConnectError(sup.spawn(spawnRequest({ argv: demoArgv(), workerId: "a/b" })), Code.InvalidArgument, /^worker_id: /);
    await expectConnectError(sup.spawn(spawnRequest({ argv: demoArgv(), env: { "A=B": "x" } })), Code.InvalidArgument, /^env\[/);
    await expectConnectError(sup.spawn(spawnRequest({ argv: demoArgv(), limits: { cpuMaxMillicores: 0 } })), Code.InvalidArgument, /^limits.cpu_max_millicores: /);
    await expectConnectError(sup.spawn(spawnRequest({ argv: demoArgv(), cwd: "/nonexistent-dir" })), Code.FailedPrecondition, /^cwd: /);
    await sup.spawn(spawnRequest({ workerId: "dup", argv: demoArgv() }));
    await expectConnectError(sup.spawn(spawnRequest({ workerId: "dup", argv: demoArgv() })), Code.AlreadyExists, /^worker_id: /);
    await expectConnectError(sup.stop("nobody"), Code.NotFound, /^worker_id: /);
  });

  it("refuses a program that does not exist and leaves nothing behind", async () => {
    const sup = await fx.start();
    await expectConnectError(
      sup.spawn(spawnRequest({ workerId: "ghost", argv: ["apiary-no-such-program-xyz"], limits: { memoryMaxBytes: 1n << 28n } })),
      Code.FailedPrecondition,
      /argv\[0\]: program not found: apiary-no-such-program-xyz/,
    );
    // The file exists and is executable, but exec fails (its interpreter is missing): the launch must notice.
    const script = join(fx.stateDir, "broken-interpreter.sh");
    writeFileSync(script, "#!/nonexistent/interpreter\n", { mode: 0o755 });
    await expectConnectError(sup.spawn(spawnRequest({ workerId: "ghost", argv: [script] })), Code.FailedPrecondition, /argv\[0\]: cannot execute/);
    expect(existsSync(`${fx.stateDir}/logs/ghost.log`)).toBe(false);
    for (const controller of V1_CONTROLLERS) expect(existsSync(fx.cgroupDir(controller, "ghost"))).toBe(false);
    expect(existsSync(`${fx.stateDir}/workers/ghost.json`)).toBe(false);
    expect(sup.list()).toEqual([]);
    expect(find(await sup.sample(), "ghost")).toBeUndefined();
  });

  it("reports exit 0 as EXITED once, then drops it and removes its cgroup", async () => {
    const sup = await fx.start();
    const exits: WorkerTelemetry[] = [];
    sup.onExit((t) => exits.push(t));
    const t = await sup.spawn(spawnRequest({ workerId: "ok", argv: demoArgv("--exit-after-ms", "300") }));
    const ended = await sampleUntilEnded(sup, "ok");
    expect(ended).toMatchObject({ state: WorkerState.EXITED, exitCode: 0, exitSignal: "" });
    expect(exits.map((e) => e.workerId)).toEqual(["ok"]);
    expect(find(await sup.sample(), "ok")).toBeUndefined();
    expect(sup.list()).toEqual([]);
    for (const controller of V1_CONTROLLERS) expect(existsSync(fx.cgroupDir(controller, "ok"))).toBe(false);
    expect(existsSync(`${fx.stateDir}/workers/ok.json`)).toBe(false);
    expect(isAlive(t.pid)).toBe(false);
  });

  it("reports exit 3 as FAILED with its code, and SIGKILL as FAILED with the signal", async () => {
    const sup = await fx.start();
    await sup.spawn(spawnRequest({ workerId: "three", argv: demoArgv("--exit-after-ms", "200", "--exit-code", "3") }));
    const killed = await sup.spawn(spawnRequest({ workerId: "killed", argv: demoArgv() }));
    await waitReady(killed);
    process.kill(killed.pid, "SIGKILL");
    // Each end is reported once: collect both from the same run of samples.
    const ended = new Map<string, WorkerTelemetry>();
    await waitFor(async () => {
      for (const s of await sup.sample()) if (s.telemetry.state === WorkerState.EXITED || s.telemetry.state === WorkerState.FAILED) ended.set(s.telemetry.workerId, s.telemetry);
      return ended.size === 2;
    }, "both workers to be reported ended");
    expect(ended.get("three")).toMatchObject({ state: WorkerState.FAILED, exitCode: 3 });
    const k = ended.get("killed")!;
    expect(k).toMatchObject({ state: WorkerState.FAILED, exitSignal: "SIGKILL" });
    expect(k.exitCode).toBeUndefined();
    for (const controller of V1_CONTROLLERS) expect(existsSync(fx.cgroupDir(controller, "killed"))).toBe(false);
  });

  it("OOM-kills a worker past memory_max and reports it FAILED by SIGKILL", async () => {
    const sup = await fx.start();
    const t = await sup.spawn(spawnRequest({ workerId: "oom", argv: demoArgv("--memory", "256MiB"), limits: { memoryMaxBytes: 64n << 20n } }));
    expect(t.limits?.enforced).toBe(true);
    expect(readFileSync(`${fx.cgroupDir("memory", "oom")}/memory.limit_in_bytes`, "utf8").trim()).toBe(String(64 << 20));
    const ended = await sampleUntilEnded(sup, "oom");
    expect(ended).toMatchObject({ state: WorkerState.FAILED, exitSignal: "SIGKILL" });
    expect(ended.errors.some((e) => e.source === "cgroup" && /OOM-killed/.test(e.message))).toBe(true);
  });

  it("stops a worker whose children ignore SIGTERM: SIGKILL after the grace period, whole tree gone", async () => {
    const sup = await fx.start();
    const t = await sup.spawn(spawnRequest({ workerId: "stubborn", argv: demoArgv("--ignore-sigterm", "--children", "2", "--detach-children") }));
    await waitReady(t, 3);
    const pids = find(await sup.sample(), "stubborn")!.pids;
    expect(pids.length).toBeGreaterThanOrEqual(3);
    const final = await sup.stop("stubborn", 500);
    expect(final.state).toBe(WorkerState.EXITED); // ended by StopWorker (its SIGKILL after grace)
    expect(final.exitSignal).toBe("SIGKILL");
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    for (const controller of V1_CONTROLLERS) expect(existsSync(fx.cgroupDir(controller, "stubborn"))).toBe(false);
    // reported once more, then gone
    expect(find(await sup.sample(), "stubborn")?.telemetry.state).toBe(WorkerState.EXITED);
    expect(find(await sup.sample(), "stubborn")).toBeUndefined();
  });

  it("stops a well-behaved worker with SIGTERM as EXITED", async () => {
    const sup = await fx.start();
    const t = await sup.spawn(spawnRequest({ workerId: "polite", argv: demoArgv("--children", "1") }));
    await waitReady(t, 2);
    const final = await sup.stop("polite", 5000);
    expect(final).toMatchObject({ state: WorkerState.EXITED, exitCode: 0 });
  });

  it("re-adopts running workers after a restart, then stops them", async () => {
    const a = await fx.start();
    const t = await a.spawn(spawnRequest({ workerId: "kept", argv: demoArgv("--model", "m-kept"), labels: { k: "v" } }));
    await waitReady(t);
    await a.close({ stopWorkers: false });
    expect(isAlive(t.pid)).toBe(true);

    const b = await fx.start();
    expect(b.list().map((w) => [w.workerId, w.pid, w.model, w.labels.k])).toEqual([["kept", t.pid, "m-kept", "v"]]);
    const sampled = find(await b.sample(), "kept")!;
    expect(sampled.telemetry.state).toBe(WorkerState.RUNNING);
    expect(sampled.pids).toContain(t.pid);
    await expectConnectError(b.spawn(spawnRequest({ workerId: "kept", argv: demoArgv() })), Code.AlreadyExists, /worker_id/);
    const final = await b.stop("kept", 5000);
    expect(final.state).toBe(WorkerState.EXITED);
    expect(isAlive(t.pid)).toBe(false);
    expect(readdirSync(`${fx.stateDir}/workers`)).toEqual([]);
    for (const controller of V1_CONTROLLERS) expect(existsSync(fx.cgroupDir(controller, "kept"))).toBe(false);
  });

  it("notices a re-adopted worker's death by polling and cleans up stale state at init", async () => {
    const a = await fx.start();
    const live = await a.spawn(spawnRequest({ workerId: "dies-later", argv: demoArgv() }));
    const doomed = await a.spawn(spawnRequest({ workerId: "dies-before", argv: demoArgv() }));
    await Promise.all([waitReady(live), waitReady(doomed)]);
    await a.close({ stopWorkers: false });
    process.kill(doomed.pid, "SIGKILL");
    await waitFor(() => !isAlive(doomed.pid), "doomed worker to die");

    const b = await fx.start();
    expect(b.list().map((w) => w.workerId)).toEqual(["dies-later"]);
    expect(existsSync(`${fx.stateDir}/workers/dies-before.json`)).toBe(false);
    for (const controller of V1_CONTROLLERS) expect(existsSync(fx.cgroupDir(controller, "dies-before"))).toBe(false);

    process.kill(live.pid, "SIGKILL");
    const ended = await sampleUntilEnded(b, "dies-later");
    expect(ended.state).toBe(WorkerState.FAILED);
    expect(ended.errors.some((e) => /exit status unknown/.test(e.message))).toBe(true);
    expect(existsSync(`${fx.stateDir}/workers/dies-later.json`)).toBe(false);
  });
});
