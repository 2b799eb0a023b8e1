import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventType, HiveHealth } from "../../gen/apiary/v1/queen_pb.js";
import { GpuProbeState, WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import { waitUntil } from "../helpers/wait.js";
import { isAlive } from "../helpers/processes.js";
import { ApiaryProcess } from "./helpers/apiary-process.js";
import { Cluster } from "./helpers/cluster.js";
import { WatchLog, workerEvent } from "./helpers/watch-log.js";

// One queen and one hive as real `apiary` processes; the tests run in order on them.
describe("pipeline: spawn → collect → heartbeat → registry → watch → scheduling", () => {
  const cluster = new Cluster();
  let watch: WatchLog;

  beforeAll(async () => {
    await cluster.startQueen();
    await cluster.startHive();
    watch = new WatchLog(cluster.queenClient, [cluster.hiveId]);
    await watch.waitFor((m) => m.kind.case === "snapshotEnd", "snapshot_end");
  }, 60_000);

  afterAll(async () => {
    watch?.close();
    await cluster.cleanup();
  });

  it("a spawned worker reaches FindWorkers with measured CPU and memory, and watchers see it added", async () => {
    const worker = await cluster.spawnDemo("e2e-busy", "llama-e2e");
    await watch.waitFor(workerEvent("e2e-busy", EventType.ADDED), "ADDED e2e-busy");
    let match;
    await waitUntil(async () => {
      const res = await cluster.queenClient.findWorkers({ model: "llama-e2e" });
      match = res.matches.find((m) => m.worker?.workerId === "e2e-busy");
      return (match?.worker?.cpuPct ?? 0) > 0 && (match?.worker?.memoryRssBytes ?? 0n) > 0n;
    }, "e2e-busy with CPU % and RSS in FindWorkers", 15_000);
    expect(match!.worker!.pid).toBe(worker.pid);
    expect(match!.hiveId).toBe(cluster.hiveId);
    expect(match!.health).toBe(HiveHealth.HEALTHY);
  });

  it("a SIGKILLed worker is reported FAILED with its signal, findable as FAILED for the retention, then removed", async () => {
    const worker = await cluster.spawnDemo("e2e-victim", "victim-model");
    await watch.waitFor(workerEvent("e2e-victim", EventType.UPDATED, WorkerState.RUNNING), "RUNNING e2e-victim");
    process.kill(worker.pid, "SIGKILL");
    const failed = await watch.waitFor(workerEvent("e2e-victim", EventType.UPDATED, WorkerState.FAILED), "FAILED e2e-victim");
    expect(failed.kind.case === "worker" && failed.kind.value.worker?.exitSignal).toBe("SIGKILL");
    expect(failed.kind.case === "worker" && failed.kind.value.worker?.reason).toBe("Signaled");
    const kept = await cluster.queenClient.findWorkers({ model: "victim-model", state: WorkerState.FAILED, includeDegraded: true });
    expect(kept.matches.map((m) => m.worker?.workerId)).toEqual(["e2e-victim"]);
    const removed = await watch.waitFor(workerEvent("e2e-victim", EventType.REMOVED), "REMOVED e2e-victim");
    expect(removed.revision).toBeGreaterThan(failed.revision);
    const res = await cluster.queenClient.findWorkers({ model: "victim-model", state: WorkerState.FAILED, includeDegraded: true });
    expect(res.matches).toHaveLength(0);
    expect((await cluster.queenClient.findWorkers({ model: "victim-model" })).matches).toHaveLength(0);
  });

  it("a hung nvidia-smi never delays heartbeats and shows as gpu_probe TIMEOUT", async () => {
    writeFileSync(cluster.gpuModeFile, "hang");
    await watch.waitFor(
      (m) => m.kind.case === "hive" && m.kind.value.hive?.gpuProbe?.state === GpuProbeState.TIMEOUT,
      "hive event with gpu_probe TIMEOUT",
    );
    // While every probe hangs until its 1 s deadline (+0.5 s kill grace), reports keep their 250 ms
    // interval: 10 of them fit in 8 s only if the hang does not hold them back (one per probe gives ~5).
    const before = (await cluster.queenClient.getHive({ hiveId: cluster.hiveId })).hive!;
    await waitUntil(async () => {
      const now = (await cluster.queenClient.getHive({ hiveId: cluster.hiveId })).hive!;
      return now.lastSeq >= before.lastSeq + 10n;
    }, "10 more reports within 8 s while nvidia-smi hangs", 8_000);
    const after = (await cluster.queenClient.getHive({ hiveId: cluster.hiveId })).hive!;
    expect(after.health).toBe(HiveHealth.HEALTHY);
    expect(after.gpuProbe?.state).toBe(GpuProbeState.TIMEOUT);
    expect(after.devices.length).toBe(2); // last known values are kept
    writeFileSync(cluster.gpuModeFile, "ok");
    await waitUntil(async () => {
      const now = (await cluster.queenClient.getHive({ hiveId: cluster.hiveId })).hive!;
      return now.gpuProbe?.state === GpuProbeState.OK;
    }, "gpu_probe OK again", 15_000);
  });

  it("after a queen restart the hive comes back by itself and a watcher gets a fresh snapshot", async () => {
    const port = new URL(cluster.queenUrl).port;
    const cliWatch = ApiaryProcess.start(["watch", "--json", "--queen", cluster.queenUrl, "--hive", cluster.hiveId]);
    const firstEpoch = JSON.parse((await cliWatch.waitFor(/^.*"snapshotEnd".*$/m))[0]).epoch as string;
    watch.close();

    await cluster.queen.stop();
    await cluster.startQueen(Number(port));
    // The hive retries with backoff capped at 5 s and a 2 s ack deadline: a few seconds on an idle
    // machine, more on a loaded CI machine, so the bound is generous; on failure both logs show why.
    await waitUntil(async () => {
      const res = await cluster.queenClient.findWorkers({ model: "llama-e2e" }).catch(() => undefined);
      return res?.matches.some((m) => m.worker?.workerId === "e2e-busy") ?? false;
    }, "e2e-busy back in FindWorkers on the new queen", 30_000, 100).catch((err: Error) => {
      throw new Error(`${err.message}\n--- hive output ---\n${tail(cluster.hive)}\n--- queen output ---\n${tail(cluster.queen)}`);
    });

    const snapshotEnds = await cliWatch.waitFor(/"snapshotEnd"[\s\S]*"snapshotEnd"/);
    const lines = cliWatch.stdout.split("\n").filter((l) => l.includes('"snapshotEnd"'));
    const secondEpoch = JSON.parse(lines[1]).epoch as string;
    expect(snapshotEnds).toBeTruthy();
    expect(secondEpoch).not.toBe(firstEpoch);
    cliWatch.signal("SIGINT");
    expect((await cliWatch.exited).code).toBe(0);
    expect(isAlive(cluster.hive.pid)).toBe(true);
  });
});

function tail(p: ApiaryProcess): string {
  return (p.stdout + p.stderr).slice(-4000);
}
