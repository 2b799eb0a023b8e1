import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RestartPolicy, WorkerState, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { ProgramAllowList } from "../../../src/hive/workers/program-allow-list.js";
import type { WorkerSupervisor } from "../../../src/hive/workers/worker-supervisor.js";
import { tempDir } from "../hive-test-helpers.js";
import { waitFor } from "../../helpers/wait.js";
import { DEMO_WORKER, demoArgv, spawnRequest, SupervisorFixture } from "./supervisor-fixture.js";

const FAST = { baseMs: 50, capMs: 100, stableMs: 60_000 };

async function spawnError(sup: WorkerSupervisor, argv: string[]): Promise<ConnectError | undefined> {
  try {
    const w = await sup.spawn(spawnRequest({ argv }));
    await sup.stop(w.workerId, 0);
    return undefined;
  } catch (err) {
    return ConnectError.from(err);
  }
}

async function finalOf(sup: WorkerSupervisor, id: string): Promise<WorkerTelemetry> {
  return waitFor(async () => {
    const w = (await sup.sample()).find((s) => s.telemetry.workerId === id)?.telemetry;
    return w && (w.state === WorkerState.FAILED || w.state === WorkerState.EXITED) ? w : undefined;
  }, `${id} to end`, 30_000, 50);
}

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
}

describe("--allow-program on the real path (attack: an interpreter or shell run under an allowed glob)", () => {
  let fx: SupervisorFixture;
  let dir: string;
  beforeEach(() => {
    fx = new SupervisorFixture();
    dir = tempDir("apiary-allow-");
    mkdirSync(join(dir, "venv/bin"), { recursive: true });
    symlinkSync(process.execPath, join(dir, "venv/bin/python")); // as a venv's bin/python links its interpreter
    symlinkSync("/bin/sh", join(dir, "venv/bin/engine")); // an "engine" that is a shell
    writeFileSync(join(dir, "other.mjs"), "console.log('not the allowed script')\n");
  });
  afterEach(async () => fx.dispose());

  it("refuses a globbed interpreter and a symlink to a shell inside the allowed directory, naming the real path", async () => {
    const sup = await fx.start({ programs: new ProgramAllowList([`${dir}/venv/bin/*`]) });
    const python = await spawnError(sup, [join(dir, "venv/bin/python"), "-e", "require('fs').writeFileSync('/tmp/pwned', 'x')"]);
    expect(python?.code).toBe(Code.PermissionDenied);
    expect(python?.rawMessage).toContain(`(${process.execPath}) is an interpreter or shell`);
    const shell = await spawnError(sup, [join(dir, "venv/bin/engine"), "-c", "id > /tmp/pwned"]);
    expect(shell?.code).toBe(Code.PermissionDenied);
    // A bare name is looked up once, in the hive's fixed PATH; its real path is judged.
    const bare = await spawnError(sup, ["sh", "-c", "id"]);
    expect(bare?.code).toBe(Code.PermissionDenied);
  });

  it("admits an interpreter only as 'INTERPRETER SCRIPT', and only with that script", async () => {
    const sup = await fx.start({ programs: new ProgramAllowList([`${join(dir, "venv/bin/python")} ${DEMO_WORKER}`]) });
    const ok = await sup.spawn(spawnRequest({ argv: [join(dir, "venv/bin/python"), DEMO_WORKER, "--model", "m"] }));
    await sup.stop(ok.workerId, 0);
    expect((await spawnError(sup, [process.execPath, "-e", "1"]))?.rawMessage).toMatch(/^argv\[1\]: .* may run only the script/);
    expect((await spawnError(sup, [process.execPath, join(dir, "other.mjs")]))?.code).toBe(Code.PermissionDenied);
    expect(() => new ProgramAllowList(["/usr/bin/python* /opt/app/serve.py"])).toThrow("an interpreter must be named exactly");
  });

  it("re-checks at restart: a worker whose hive now has a narrower list is not started again", async () => {
    const wide = await fx.start({ programs: new ProgramAllowList([`${process.execPath} ${DEMO_WORKER}`]), restart: FAST });
    const w = await wide.spawn(spawnRequest({ workerId: "crashy", argv: demoArgv("--exit-after-ms", "400", "--exit-code", "3"), restartPolicy: RestartPolicy.ON_FAILURE }));
    await wide.close({ stopWorkers: false }); // the worker keeps running, then fails while no hive watches
    await waitFor(() => !alive(w.pid), "the worker to exit on its own");
    const narrow = await fx.start({ programs: new ProgramAllowList(["/usr/local/bin/llama-server"]), restart: FAST });
    const final = await finalOf(narrow, "crashy");
    expect(final.state).toBe(WorkerState.FAILED);
    expect(final.errors.map((e) => e.message).join("\n")).toContain("not restarted: argv[0]");
  });

  it("re-checks at re-adoption: a running worker the hive's current list refuses is stopped", async () => {
    const wide = await fx.start({ programs: new ProgramAllowList([`${process.execPath} ${DEMO_WORKER}`]) });
    const w = await wide.spawn(spawnRequest({ workerId: "old", argv: demoArgv("--model", "m") }));
    await wide.close({ stopWorkers: false });
    expect(alive(w.pid)).toBe(true);
    const narrow = await fx.start({ programs: new ProgramAllowList(["/usr/local/bin/llama-server"]) });
    expect(narrow.readopted).toEqual(["old"]);
    const final = await finalOf(narrow, "old");
    expect(final.errors.map((e) => e.message).join("\n")).toContain("stopped at re-adoption: argv[0]");
    expect(alive(w.pid)).toBe(false);
  });
});
