import { createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { startHive, type Hive } from "../../src/hive/hive.js";
import type { HiveConfig } from "../../src/hive/hive-config.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { demoWorker, fakeNvidiaSmi, gpuModeFile, tempDir } from "../hive/hive-test-helpers.js";
import { waitFor } from "../helpers/wait.js";
import { find, scrape, valueOf } from "./support/scrape.js";

let hive: Hive | undefined;
afterEach(async () => {
  await hive?.close({ stopWorkers: true });
  hive = undefined;
});

async function start(overrides: Partial<HiveConfig> = {}, initialMode = "ok") {
  const dir = tempDir("apiary-metrics-");
  const mode = gpuModeFile(dir, initialMode);
  process.env.FAKE_NVIDIA_SMI_MODE_FILE = mode.file;
  process.env.FAKE_NVIDIA_SMI_GPUS = "2";
  hive = await startHive({
    port: 0,
    hiveId: "metrics-hive",
    nvidiaSmiPath: fakeNvidiaSmi,
    cgroupMode: "none",
    stateDir: `${dir}/state`,
    tickIntervalMs: 200,
    gpuDeadlineMs: 1500,
    logger: pino({ level: "silent" }),
    ...overrides,
  });
  const h = hive;
  if (initialMode === "ok") await waitFor(() => h.monitor.latest()?.devices.length === 2, "a first report with the fake GPUs");
  return { hive: h, mode, client: createClient(HiveService, createApiaryTransport(h.url)) };
}

describe("the hive's /metrics", () => {
  it("exports every GPU and worker with dcgm-like labels, CPU and I/O counters, probe health; lints clean", async () => {
    const { hive, client } = await start();
    const workerId = `metrics-w-${process.pid}`;
    const spawned = await client.spawnWorker({
      workerId,
      model: "llama-3-8b",
      gpuUuids: [hive.monitor.latest()!.devices[0].uuid],
      argv: [process.execPath, demoWorker, "--model", "llama-3-8b", "--cpu", "0.5", "--memory", "32MiB"],
    });
    const uuid = spawned.worker!.gpuUuids[0];
    const worker = { hive: "metrics-hive", worker_id: workerId, model: "llama-3-8b" };

    const first = await waitFor(async () => {
      const s = await scrape(hive.url);
      const moving = find(s.samples, "apiary_worker_cpu_seconds_total", worker)[0]?.value > 0;
      // The GPU probe sees a new process a probe round later than /proc does.
      return moving && find(s.samples, "apiary_worker_vram_used_bytes", worker)[0]?.value > 0 ? s : undefined;
    }, "the worker's CPU counter to move and its VRAM to show", 30_000);
    const { samples } = first;
    const gpu0 = { hive: "metrics-hive", gpu: "0", uuid, model_name: "NVIDIA H100 80GB HBM3" };
    expect(valueOf(samples, "apiary_gpu_memory_total_bytes", gpu0)).toBe(81559 * 1024 * 1024);
    const used = valueOf(samples, "apiary_gpu_memory_used_bytes", gpu0);
    expect(valueOf(samples, "apiary_gpu_memory_free_bytes", gpu0)).toBe(81559 * 1024 * 1024 - used);
    const util = valueOf(samples, "apiary_gpu_utilization_ratio", gpu0);
    expect(util).toBeGreaterThanOrEqual(0);
    expect(util).toBeLessThanOrEqual(1);
    expect(valueOf(samples, "apiary_gpu_temperature_celsius", gpu0)).toBeGreaterThan(0);
    expect(valueOf(samples, "apiary_gpu_power_watts", gpu0)).toBeGreaterThan(0);
    expect(find(samples, "apiary_gpu_utilization_ratio")).toHaveLength(2);

    expect(valueOf(samples, "apiary_worker_memory_rss_bytes", worker)).toBeGreaterThan(1024 * 1024);
    expect(valueOf(samples, "apiary_worker_vram_used_bytes", worker)).toBeGreaterThan(0);
    expect(valueOf(samples, "apiary_worker_state", { ...worker, state: "running" })).toBe(1);
    expect(valueOf(samples, "apiary_worker_state", { ...worker, state: "starting" })).toBe(0);
    expect(valueOf(samples, "apiary_worker_io_read_bytes_total", worker)).toBeGreaterThanOrEqual(0);
    expect(valueOf(samples, "apiary_gpu_probe_outcomes_total", { hive: "metrics-hive", state: "ok" })).toBeGreaterThan(0);
    expect(valueOf(samples, "apiary_gpu_probe_duration_seconds_count", { hive: "metrics-hive" })).toBeGreaterThan(0);
    expect(valueOf(samples, "apiary_gpu_probe_killed_processes_total", { hive: "metrics-hive" })).toBe(0);
    expect(valueOf(samples, "apiary_rpc_server_handled_total", { method: "SpawnWorker", code: "ok" })).toBe(1);

    // A counter never goes back while the worker lives.
    const cpu = valueOf(samples, "apiary_worker_cpu_seconds_total", worker);
    await waitFor(async () => valueOf((await scrape(hive.url)).samples, "apiary_worker_cpu_seconds_total", worker) > cpu, "CPU seconds to grow", 30_000);

    // An ended worker has no series left.
    await client.stopWorker({ workerId });
    await waitFor(async () => {
      const s = await scrape(hive.url);
      return s.samples.filter((x) => x.labels.worker_id === workerId).length === 0;
    }, "the stopped worker's series gone", 30_000);
  });

  it("drops the series of vanished GPUs and counts probe outcomes by state", async () => {
    const { hive, mode } = await start();
    mode.set("no-devices");
    const { samples } = await waitFor(async () => {
      const s = await scrape(hive.url);
      return find(s.samples, "apiary_gpu_memory_total_bytes").length === 0 ? s : undefined;
    }, "the GPU series gone", 30_000);
    expect(valueOf(samples, "apiary_gpu_probe_outcomes_total", { hive: "metrics-hive", state: "not_found" })).toBeGreaterThan(0);
  });

  it("counts nvidia-smi processes killed at the deadline and TIMEOUT outcomes", async () => {
    const { hive } = await start({ gpuDeadlineMs: 300 }, "hang");
    const { samples } = await waitFor(
      async () => {
        const s = await scrape(hive.url);
        return valueOf(s.samples, "apiary_gpu_probe_killed_processes_total", { hive: "metrics-hive" }) >= 3 ? s : undefined;
      },
      "a probe round killed at its deadline",
      20_000,
    );
    expect(valueOf(samples, "apiary_gpu_probe_outcomes_total", { hive: "metrics-hive", state: "timeout" })).toBeGreaterThan(0);
    expect(valueOf(samples, "apiary_gpu_probe_outcomes_total", { hive: "metrics-hive", state: "ok" })).toBe(0);
  });
});
