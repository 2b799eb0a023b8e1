import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { EventType, HiveHealth, QueenService, type WatchResponse } from "../../gen/apiary/v1/queen_pb.js";
import { GpuProbeState, WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import { startHive, type Hive } from "../../src/hive/hive.js";
import type { HiveConfig } from "../../src/hive/hive-config.js";
import { startQueen, type Queen } from "../../src/queen/queen.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { demoWorker, fakeNvidiaSmi, gpuModeFile, nextEvent, repoRoot, tempDir } from "./hive-test-helpers.js";
import { waitUntil } from "../helpers/wait.js";
import { runApiary } from "../e2e/helpers/apiary-process.js";

const quiet = pino({ level: "silent" });
let queen: Queen;
let queenClient: Client<typeof QueenService>;
let gpuMode: ReturnType<typeof gpuModeFile>;
const cleanups: (() => Promise<void>)[] = [];

async function startTestQueen(port = 0): Promise<Queen> {
  const started = await startQueen({ port, logger: quiet, reportIntervalMs: 200, shutdownGraceMs: 200 });
  queenClient = createClient(QueenService, createApiaryTransport(started.url));
  return started;
}

async function startTestHive(overrides: Partial<HiveConfig> = {}): Promise<Hive> {
  const hive = await startHive({
    queenUrl: queen.url,
    port: 0,
    hiveId: "hive-a",
    labels: { zone: "test" },
    nvidiaSmiPath: fakeNvidiaSmi,
    cgroupMode: "none",
    stateDir: `${tempDir("apiary-hive-")}/state`,
    tickIntervalMs: 200,
    reportIntervalMs: 200,
    ackDeadlineMs: 2000,
    pingIntervalMs: 1000,
    pingTimeoutMs: 1000,
    logger: quiet,
    ...overrides,
  });
  cleanups.push(() => hive.close({ stopWorkers: true }));
  // The fake nvidia-smi starts a node process per call: on a busy machine its first answer may take a few ticks.
  await waitUntil(() => hive.monitor.latest()?.devices.length === 2, "a first report with the fake GPUs");
  return hive;
}

/** `apiary queen` as its own process, resolved once it listens. */
async function startQueenProcess(port: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [`${repoRoot}/bin/apiary.mjs`, "queen", "--port", String(port), "--report-interval", "200ms"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
    }
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("apiary queen did not start listening within 20 s")), 20_000);
    child.once("exit", (code) => reject(new Error(`apiary queen exited with ${code}`)));
    lines.on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === "rpc server listening" && entry.url) {
        clearTimeout(timer);
        resolve(entry.url);
      }
    });
  });
  return { child, url };
}

function isWorker(m: WatchResponse, workerId: string, state?: WorkerState): boolean {
  return m.kind.case === "worker" && m.kind.value.worker?.workerId === workerId && (state === undefined || m.kind.value.worker.state === state);
}

function hiveClient(hive: Hive): Client<typeof HiveService> {
  return createClient(HiveService, createApiaryTransport(hive.url));
}

beforeEach(async () => {
  gpuMode = gpuModeFile(tempDir("apiary-gpu-"));
  process.env.FAKE_NVIDIA_SMI_MODE_FILE = gpuMode.file;
  process.env.FAKE_NVIDIA_SMI_GPUS = "2";
  queen = await startTestQueen();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await queen.close();
});

describe("hive and queen", () => {
  it("says hello and reports its devices and workers to the queen", async () => {
    const hive = await startTestHive();
    await waitUntil(async () => (await queenClient.getHive({ hiveId: "hive-a" })).hive?.devices.length === 2, "the queen to see the devices");
    const { hive: status } = await queenClient.getHive({ hiveId: "hive-a" });
    expect(status?.info?.endpoint).toBe(hive.url);
    expect(status?.info?.labels).toEqual({ zone: "test" });
    expect(status?.incarnation).toBe(hive.incarnation);
    expect(status?.connected).toBe(true);
    expect(status?.devices.map((d) => d.index)).toEqual([0, 1]);
    const gpu = status!.devices[0].uuid;

    await hiveClient(hive).spawnWorker({ argv: [process.execPath, demoWorker, "--model", "llama-3-8b"], workerId: "w-gpu", gpuUuids: [gpu] });
    await waitUntil(async () => {
      const worker = (await queenClient.getHive({ hiveId: "hive-a" })).hive?.workers.find((w) => w.workerId === "w-gpu");
      return worker?.state === WorkerState.RUNNING && (worker.vramUsedBytes ?? 0n) > 0n;
    }, "the queen to see w-gpu running with its VRAM");
    const found = await queenClient.findWorkers({ model: "llama-3-8b" });
    expect(found.matches.map((m) => [m.hiveId, m.worker?.workerId, m.worker?.gpuUuids])).toEqual([["hive-a", "w-gpu", [gpu]]]);
  });

  it("delivers a worker's death to the queen even when several ticks fall between two reports", async () => {
    // Ticks every 40 ms, reports every 200 ms (the queen's interval): a death seen by one tick only
    // would be overwritten before the heartbeat sends it about four times in five.
    const hive = await startTestHive({ tickIntervalMs: 40 });
    const events: WatchResponse[] = [];
    const watching = new AbortController();
    cleanups.push(async () => watching.abort());
    const watch = (async () => {
      for await (const m of queenClient.watch({ hiveIds: ["hive-a"] }, { signal: watching.signal })) events.push(m);
    })().catch(() => undefined);
    const client = hiveClient(hive);
    for (const workerId of ["doomed-1", "doomed-2", "doomed-3"]) {
      const { worker } = await client.spawnWorker({ argv: [process.execPath, demoWorker], workerId });
      await waitUntil(() => events.some((m) => isWorker(m, workerId, WorkerState.RUNNING)), `the queen to see ${workerId} running`);
      process.kill(worker!.pid, "SIGKILL");
      // The queen keeps the ended worker (its retention), so FAILED is its last event for now.
      await waitUntil(() => events.some((m) => isWorker(m, workerId, WorkerState.FAILED)), `${workerId} FAILED`);
      const failed = events.find((m) => isWorker(m, workerId, WorkerState.FAILED));
      expect(events.some((m) => isWorker(m, workerId) && m.kind.case === "worker" && m.kind.value.type === EventType.REMOVED)).toBe(false);
      expect(failed!.kind.case === "worker" && failed!.kind.value.worker?.exitSignal).toBe("SIGKILL");
    }
    watching.abort();
    await watch;
  });

  it("says hello again on a fresh stream when the queen evicted it while its stream was open", async () => {
    const hive = await startTestHive();
    await waitUntil(async () => (await queenClient.getHive({ hiveId: "hive-a" })).hive?.connected === true, "the queen to see hive-a");
    const disconnected = nextEvent<Error>(hive.heartbeat!, "disconnected");
    const reconnected = new Promise<void>((resolve) => disconnected.then(() => hive.heartbeat!.once("connected", () => resolve())));
    queen.registry.evict("hive-a", "down too long"); // what the sweeper does to a hive silent too long
    const error = ConnectError.from(await disconnected);
    expect(Code[error.code]).toBe(Code[Code.FailedPrecondition]);
    expect(error.rawMessage).toMatch(/evicted/);
    await reconnected;
    await waitUntil(async () => (await queenClient.getHive({ hiveId: "hive-a" }).catch(() => undefined))?.hive?.connected === true, "hive-a back");
    const { hive: status } = await queenClient.getHive({ hiveId: "hive-a" });
    expect(status?.incarnation).toBe(hive.incarnation);
    expect(status?.devices).toHaveLength(2);
  });

  it("StopWorker answers once the queen has the worker's end: FindWorkers never says RUNNING after it", async () => {
    const hive = await startTestHive();
    const client = hiveClient(hive);
    for (const workerId of ["stop-now-1", "stop-now-2", "stop-now-3"]) {
      await client.spawnWorker({ argv: [process.execPath, demoWorker, "--model", "stop-model"], workerId });
      await waitUntil(async () => (await queenClient.findWorkers({ model: "stop-model" })).matches.some((m) => m.worker?.workerId === workerId), `the queen to see ${workerId} running`);
      const { worker } = await client.stopWorker({ workerId, gracePeriod: { seconds: 5n, nanos: 0 } });
      expect(worker?.reason).toBe("Stopped");
      expect(worker?.endedAt).toBeDefined();
      expect((await queenClient.findWorkers({ model: "stop-model" })).matches).toEqual([]);
      const ended = await queenClient.findWorkers({ model: "stop-model", state: WorkerState.EXITED });
      expect(ended.matches.map((m) => [m.worker?.workerId, m.worker?.reason])).toContainEqual([workerId, "Stopped"]);
    }
  });

  it("keeps a killed worker findable as FAILED with its reason after the hive has dropped it", async () => {
    const hive = await startTestHive();
    const { worker } = await hiveClient(hive).spawnWorker({ argv: [process.execPath, demoWorker], workerId: "killed-1" });
    await waitUntil(async () => (await queenClient.findWorkers({})).matches.some((m) => m.worker?.workerId === "killed-1"), "killed-1 running");
    process.kill(worker!.pid, "SIGKILL");
    await waitUntil(async () => (await queenClient.findWorkers({ state: WorkerState.FAILED })).matches.some((m) => m.worker?.workerId === "killed-1"), "killed-1 FAILED");
    // Acked, so the hive stops carrying it; the queen keeps it.
    await waitUntil(() => hive.monitor.latest()?.workers.every((w) => w.workerId !== "killed-1") === true, "the hive to drop killed-1");
    await nextEvent(hive.heartbeat!, "ack");
    const found = await queenClient.findWorkers({ state: WorkerState.FAILED });
    expect(found.matches.map((m) => [m.worker?.workerId, m.worker?.exitSignal, m.worker?.reason])).toEqual([["killed-1", "SIGKILL", "Signaled"]]);
    expect(found.matches[0].worker?.endedAt).toBeDefined();
  });

  it("a hive stopped with workers running stays listed DOWN with its departure; the next one re-adopts them and says so", async () => {
    const stateDir = `${tempDir("apiary-hive-")}/state`;
    const first = await startTestHive({ stateDir });
    await hiveClient(first).spawnWorker({ argv: [process.execPath, demoWorker], workerId: "left-running" });
    await waitUntil(async () => (await queenClient.findWorkers({})).matches.some((m) => m.worker?.workerId === "left-running"), "left-running seen");
    await first.close({ stopWorkers: false, reason: "Ctrl-C" });
    const { hive: away } = await queenClient.getHive({ hiveId: "hive-a" });
    expect(away?.health).toBe(HiveHealth.DOWN);
    expect(away?.connected).toBe(false);
    expect(away?.departure).toMatchObject({ reason: "Ctrl-C", workersLeftRunning: 1 });
    expect(away?.workers.map((w) => w.workerId)).toEqual(["left-running"]);

    const second = await startTestHive({ stateDir });
    expect(second.readopted).toEqual(["left-running"]);
    await waitUntil(async () => (await queenClient.getHive({ hiveId: "hive-a" })).hive?.health === HiveHealth.HEALTHY, "hive-a back");
    expect((await queenClient.getHive({ hiveId: "hive-a" })).hive?.departure).toBeUndefined();
    const out = await runApiary(["stop", "left-running", "--queen", queen.url, "--grace", "5s"]);
    expect(out.stdout.trim()).toBe("stopped left-running on hive-a: exited (exit status unknown: re-adopted after a hive restart)");
    const ended = await queenClient.findWorkers({ state: WorkerState.EXITED });
    const w = ended.matches.find((m) => m.worker?.workerId === "left-running")?.worker;
    expect(w?.reason).toBe("Stopped");
    expect(w?.exitCode).toBeUndefined();
    expect(w?.errors.map((e) => e.message).join()).toMatch(/exit status unknown/);
  });

  it("reconnects by itself when the queen restarts on the same port", async () => {
    const hive = await startTestHive();
    await waitUntil(async () => (await queenClient.getHive({ hiveId: "hive-a" })).hive?.devices.length === 2, "the queen to see the devices");
    const port = queen.server.port;
    const disconnected = nextEvent(hive.heartbeat!, "disconnected");
    await queen.close();
    await disconnected;
    expect(hive.heartbeat!.connected).toBe(false);

    const reconnected = nextEvent(hive.heartbeat!, "ack", 15_000);
    queen = await startTestQueen(port);
    await reconnected;
    const { hives } = await queenClient.listHives({});
    expect(hives.map((h) => [h.info?.hiveId, h.health, h.connected])).toEqual([["hive-a", HiveHealth.HEALTHY, true]]);
    expect(hives[0].devices).toHaveLength(2);
  });

  it("reconnects by itself when a queen process is killed and another starts on the same port", async () => {
    const first = await startQueenProcess(0);
    const port = Number(new URL(first.url).port);
    const hive = await startTestHive({ queenUrl: first.url, hiveId: "hive-k" });
    await nextEvent(hive.heartbeat!, "ack");
    const disconnected = nextEvent(hive.heartbeat!, "disconnected");
    first.child.kill("SIGKILL");
    await disconnected;

    const second = await startQueenProcess(port);
    const reconnected = nextEvent(hive.heartbeat!, "ack", 20_000);
    await reconnected;
    const client = createClient(QueenService, createApiaryTransport(second.url));
    const { hives } = await client.listHives({});
    expect(hives.map((h) => [h.info?.hiveId, h.incarnation, h.connected])).toEqual([["hive-k", hive.incarnation, true]]);
  });

  it("says goodbye on close and the queen forgets it at once", async () => {
    const hive = await startTestHive();
    await nextEvent(hive.heartbeat!, "ack");
    await hive.close({ stopWorkers: true });
    const error = await queenClient.getHive({ hiveId: "hive-a" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.NotFound);
  });

  it("keeps reporting on time with gpu_probe TIMEOUT and the last devices while nvidia-smi hangs", async () => {
    const hive = await startTestHive({ gpuDeadlineMs: 1500 });
    await waitUntil(() => hive.monitor.latest()?.gpuProbe?.state === GpuProbeState.OK, "a first OK probe");
    gpuMode.set("hang");
    await waitUntil(async () => {
      const status = (await queenClient.getHive({ hiveId: "hive-a" })).hive;
      return status?.gpuProbe?.state === GpuProbeState.TIMEOUT;
    }, "the queen to see the probe time out");
    let acks = 0;
    hive.heartbeat!.on("ack", () => (acks += 1));
    await waitUntil(() => acks >= 10, "ten more acks while nvidia-smi hangs", 15_000);
    const status = (await queenClient.getHive({ hiveId: "hive-a" })).hive!;
    expect(status.health).toBe(HiveHealth.HEALTHY);
    expect(status.gpuProbe?.state).toBe(GpuProbeState.TIMEOUT);
    expect(status.gpuProbe?.lastSuccessAt).toBeDefined();
    expect(status.devices).toHaveLength(2);
  });

  it("runs one GPU probe per tick however many workers it has", async () => {
    const hive = await startTestHive({ tickIntervalMs: 500, reportIntervalMs: 500 });
    const client = hiveClient(hive);

    async function invocationsPerTick(): Promise<number[]> {
      const increments: number[] = [];
      let previous = hive.gpuProbe.invocations();
      const unsubscribe = hive.monitor.subscribe(() => {
        const now = hive.gpuProbe.invocations();
        increments.push(now - previous);
        previous = now;
      });
      await waitUntil(() => increments.length >= 6, "six ticks", 20_000);
      unsubscribe();
      return increments;
    }

    const spawnWorkers = async (ids: string[]) => {
      for (const id of ids) await client.spawnWorker({ argv: [process.execPath, demoWorker], workerId: id, gpuUuids: ["0"] });
      await waitUntil(() => ids.every((id) => hive.monitor.latest()?.workers.some((w) => w.workerId === id && w.state === WorkerState.RUNNING)), "every worker measured");
    };

    await spawnWorkers(["one"]);
    const withOne = await invocationsPerTick();
    await spawnWorkers(["two", "three", "four", "five", "six"]);
    const withSix = await invocationsPerTick();
    // nvidia-smi runs three queries per probe: a tick either starts one probe (3) or reuses one still running (0).
    for (const increments of [withOne, withSix]) {
      expect(increments.every((n) => n === 0 || n === 3)).toBe(true);
      expect(increments).toContain(3);
    }
  });
});
