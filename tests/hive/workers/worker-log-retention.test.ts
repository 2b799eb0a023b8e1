import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { pruneWorkerLogs } from "../../../src/hive/workers/worker-log-retention.js";
import { demoArgv, spawnRequest, SupervisorFixture } from "./supervisor-fixture.js";
import { waitFor } from "../../helpers/wait.js";

const DAY = 86_400_000;
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A log dir with `<id>.log` files last written `ageDays` ago. */
function logDir(files: Record<string, number>, now: number): string {
  const dir = mkdtempSync(join(tmpdir(), "apiary-logs-"));
  dirs.push(dir);
  for (const [name, ageDays] of Object.entries(files)) {
    const file = join(dir, name);
    writeFileSync(file, `log of ${name}\n`);
    const at = new Date(now - ageDays * DAY);
    utimesSync(file, at, at);
  }
  return dir;
}

describe("pruneWorkerLogs", () => {
  const now = Date.now();

  it("deletes ended workers' logs past the age, never a running worker's", () => {
    const dir = logDir({ "old.log": 9, "recent.log": 1, "running-old.log": 30, "notes.txt": 30 }, now);
    const result = pruneWorkerLogs(dir, (id) => id === "running-old", { maxAgeMs: 7 * DAY, maxFiles: 100 }, now);
    expect(result.removed).toEqual([join(dir, "old.log")]);
    expect(result.errors).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(["notes.txt", "recent.log", "running-old.log"]);
  });

  it("keeps only the newest ended workers' logs beyond the count", () => {
    const dir = logDir({ "a.log": 1, "b.log": 2, "c.log": 3, "d.log": 4, "live.log": 5 }, now);
    pruneWorkerLogs(dir, (id) => id === "live", { maxAgeMs: 7 * DAY, maxFiles: 2 }, now);
    expect(readdirSync(dir).sort()).toEqual(["a.log", "b.log", "live.log"]);
  });

  it("is no error when the log dir does not exist yet", () => {
    expect(pruneWorkerLogs(join(tmpdir(), "apiary-no-such-dir-for-logs"), () => false, { maxAgeMs: DAY, maxFiles: 1 })).toEqual({ removed: [], errors: [] });
  });
});

describe("WorkerSupervisor log retention", () => {
  const fx = new SupervisorFixture();
  afterEach(async () => fx.dispose());

  it("prunes at start and whenever a worker ends, keeping the ended worker's own log", async () => {
    const logs = join(fx.stateDir, "logs");
    mkdirSync(logs, { recursive: true });
    const now = Date.now();
    for (const [name, ageDays] of [["ancient", 30], ["week-old", 6]] as const) {
      writeFileSync(join(logs, `${name}.log`), "x\n");
      utimesSync(join(logs, `${name}.log`), new Date(now - ageDays * DAY), new Date(now - ageDays * DAY));
    }
    const sup = await fx.start({ cgroupMode: "none", logRetention: { maxAgeMs: 7 * DAY, maxFiles: 1 } });
    expect(existsSync(join(logs, "ancient.log"))).toBe(false);
    expect(existsSync(join(logs, "week-old.log"))).toBe(true);

    const t = await sup.spawn(spawnRequest({ workerId: "short", argv: demoArgv("--exit-after-ms", "100") }));
    const ended = new Promise((resolve) => sup.onExit(resolve));
    await ended;
    // The ended worker's log is the newest: with maxFiles 1, the week-old one goes.
    await waitFor(() => !existsSync(join(logs, "week-old.log")), "week-old.log pruned after the worker ended");
    expect(existsSync(t.logPath)).toBe(true);
  });
});
