import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { Cluster } from "./helpers/cluster.js";
import { ApiaryProcess, runApiary } from "./helpers/apiary-process.js";
import { waitFor } from "../helpers/wait.js";

describe("apiary logs and apiary describe (real queen, hive and workers)", () => {
  const cluster = new Cluster();
  const id = `logs-${process.pid}`;

  beforeAll(async () => {
    await cluster.startQueen();
    await cluster.startHive();
  }, 240_000);
  afterAll(() => cluster.cleanup(), 60_000);

  it("prints a worker's output, its last lines, and follows it until the worker ends", async () => {
    // The worker prints one line, then a line per file it finds, then exits when told: nothing is timed.
    const ctl = `${cluster.dir}/${id}-ctl`;
    const script = `echo first; i=0; while [ ! -e ${ctl}.stop ]; do if [ -e ${ctl}.$i ]; then echo "line $i"; i=$((i+1)); fi; sleep 0.05; done; echo last`;
    const spawned = await cluster.hiveClient.spawnWorker({ workerId: id, argv: ["sh", "-c", script] });
    for (const i of [0, 1, 2]) writeFileSync(`${ctl}.${i}`, "");
    await waitFor(async () => (await cluster.queenClient.listHives({})).hives.some((h) => h.workers.some((w) => w.workerId === id)), "the queen to know the worker", 60_000);
    await waitFor(() => readFileSync(spawned.worker!.logPath, "utf8").includes("line 2"), "line 2 in the log", 60_000);

    const [all, tail, since] = await Promise.all([
      runApiary(["logs", id, "--queen", cluster.queenUrl]),
      runApiary(["logs", id, "--tail", "2"], { APIARY_QUEEN: cluster.queenUrl }),
      runApiary(["logs", id, "--since", "1h", "--hive-addr", cluster.hiveUrl]),
    ]);
    expect(all).toMatchObject({ code: 0, stdout: "first\nline 0\nline 1\nline 2\n" });
    expect(tail).toMatchObject({ code: 0, stdout: "line 1\nline 2\n" });
    expect(since.stdout).toBe("first\nline 0\nline 1\nline 2\n");

    const follow = ApiaryProcess.start(["logs", "-f", id, "--tail", "1", "--queen", cluster.queenUrl]);
    await follow.waitFor(/line 2\n/, 60_000);
    writeFileSync(`${ctl}.3`, "");
    await follow.waitFor(/line 3\n/, 60_000);
    writeFileSync(`${ctl}.stop`, "");
    const { code } = await follow.exited; // the worker ended: everything sent, the stream ends by itself
    expect(code).toBe(0);
    expect(follow.stdout).toBe("line 2\nline 3\nlast\n");
    expect(spawned.worker?.logPath).toContain(`${id}.log`);

    const gone = await runApiary(["logs", "nobody-here", "--hive-addr", cluster.hiveUrl]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/NotFound: worker_id: no log of a worker named nobody-here/);
  }, 240_000);

  it("describes a hive and a worker with everything known and their recent events", async () => {
    const wid = `${id}-described`;
    await cluster.spawnDemo(wid, "demo-7b", ["--exit-after-ms", "60000"]);
    await waitFor(async () => (await cluster.queenClient.listHives({})).hives.some((h) => h.workers.some((w) => w.workerId === wid && w.cpuPct !== undefined)), "a measured worker", 60_000);

    const [hive, worker, json, missing, usage, hiveYaml, conflict] = await Promise.all([
      runApiary(["describe", "hive", cluster.hiveId, "--events", "100", "--queen", cluster.queenUrl]),
      runApiary(["describe", "worker", wid, "--queen", cluster.queenUrl]),
      runApiary(["describe", "worker", wid, "--json", "--queen", cluster.queenUrl]),
      runApiary(["describe", "hive", "no-such-hive", "--queen", cluster.queenUrl]),
      runApiary(["describe", "pod", "x"]),
      runApiary(["describe", "hive", cluster.hiveId, "-o", "yaml", "--queen", cluster.queenUrl]),
      runApiary(["describe", "worker", wid, "-o", "wide", "--queen", cluster.queenUrl]),
    ]);
    expect(hive.code).toBe(0);
    expect(hive.stdout).toMatch(new RegExp(`^Hive: +${cluster.hiveId}$`, "m"));
    expect(hive.stdout).toMatch(/^Health: +healthy$/m);
    expect(hive.stdout).toMatch(/^GPUs:\n +# +UUID/m);
    expect(hive.stdout).toMatch(new RegExp(`^  ${wid} +running`, "m"));
    expect(hive.stdout).toMatch(/^Events:\n +AGE +TYPE +REASON +COUNT +MESSAGE\n.*Normal +Joined +1 +hive said hello/m);
    // The first worker of the test above ended: its end stays in its hive's events.
    expect(hive.stdout).toMatch(new RegExp(`Normal +Exited +1 +worker ${id}: exit code 0`));

    expect(worker.code).toBe(0);
    for (const line of [`Worker: +${wid}`, `Hive: +${cluster.hiveId}`, "State: +running", "Model: +demo-7b", "Restart policy: +never", "Restarts: +0"]) {
      expect(worker.stdout).toMatch(new RegExp(`^${line}$`, "m"));
    }
    expect(worker.stdout).toMatch(/Normal +Started +1 +pid \d+, model demo-7b/);

    const parsed = JSON.parse(json.stdout) as { hiveId: string; worker: { workerId: string }; events: { reason: string }[] };
    expect(parsed).toMatchObject({ hiveId: cluster.hiveId, worker: { workerId: wid } });
    expect(parsed.events.map((e) => e.reason)).toContain("Started");
    // Everything known: zero values are printed too, so scripts can rely on every field.
    expect(parsed).toMatchObject({ kind: "worker", worker: { restartCount: 0, state: "WORKER_STATE_RUNNING", model: "demo-7b" } });

    expect(hiveYaml.code).toBe(0);
    const doc = parseYaml(hiveYaml.stdout) as { kind: string; hive: { info: { hiveId: string }; health: string; workers: { workerId: string }[] }; events: { reason: string }[] };
    expect(doc.kind).toBe("hive");
    expect(doc.hive.info.hiveId).toBe(cluster.hiveId);
    expect(doc.hive.health).toBe("HIVE_HEALTH_HEALTHY");
    expect(doc.hive.workers.map((w) => w.workerId)).toContain(wid);
    expect(doc.events.map((e) => e.reason)).toContain("Joined");
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toMatch(/-o wide: expected one of table, json, yaml/);

    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/NotFound: hive_id: hive "no-such-hive" not found/);
    expect(usage.code).toBe(2);
  }, 240_000);
});
