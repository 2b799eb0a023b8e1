// The hive's /metrics per-GPU health series (dcgm-exporter names in their help; docs/gpu-health.md),
// from a real hive with the fake nvidia-smi made sick and a kernel log file with an Xid. promtool lints the scrape.
import { appendFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { GpuHealthState } from "../../../gen/apiary/v1/telemetry_pb.js";
import { startHive, type Hive } from "../../../src/hive/hive.js";
import { fakeNvidiaSmi, tempDir } from "../hive-test-helpers.js";
import { waitFor } from "../../helpers/wait.js";
import { find, scrape, valueOf } from "../../metrics/support/scrape.js";

let hive: Hive | undefined;
afterEach(async () => {
  await hive?.close({ stopWorkers: true });
  hive = undefined;
  delete process.env.FAKE_NVIDIA_SMI_HEALTH_FILE;
});

describe("GPU health on the hive's /metrics", () => {
  it("exports the verdict, Xid events by code, row remapping, ECC, clocks and PCIe per GPU; lints clean", async () => {
    const dir = tempDir("apiary-health-metrics-");
    const healthFile = path.join(dir, "health");
    const kmsg = path.join(dir, "kmsg");
    writeFileSync(healthFile, "0 sick\n");
    writeFileSync(kmsg, "");
    process.env.FAKE_NVIDIA_SMI_HEALTH_FILE = healthFile;
    process.env.FAKE_NVIDIA_SMI_GPUS = "2";
    delete process.env.FAKE_NVIDIA_SMI_MODE_FILE;
    const h = (hive = await startHive({
      port: 0, hiveId: "health-hive", nvidiaSmiPath: fakeNvidiaSmi, cgroupMode: "none", stateDir: `${dir}/state`,
      tickIntervalMs: 200, gpuDeadlineMs: 5000, kmsgPath: kmsg, logger: pino({ level: "silent" }),
    }));
    await waitFor(() => h.monitor.latest()?.devices.length === 2, "a first report");
    appendFileSync(kmsg, "NVRM: Xid (PCI:0000:28:00): 79, pid=99, name=python3, GPU has fallen off the bus.\n");
    await waitFor(() => h.monitor.latest()?.devices[1]?.health?.state === GpuHealthState.UNHEALTHY, "GPU 1 judged on its Xid");

    const { samples } = await scrape(h.url);
    const gpu = (i: number) => ({ hive: "health-hive", gpu: String(i) });
    expect(valueOf(samples, "apiary_gpu_health", { ...gpu(0), state: "unhealthy" })).toBe(1);
    expect(valueOf(samples, "apiary_gpu_health", { ...gpu(0), state: "healthy" })).toBe(0);
    expect(valueOf(samples, "apiary_gpu_row_remap_pending", gpu(0))).toBe(1);
    expect(valueOf(samples, "apiary_gpu_row_remap_pending", gpu(1))).toBe(0);
    expect(valueOf(samples, "apiary_gpu_xid_events_total", { ...gpu(1), xid: "79" })).toBe(1);
    expect(find(samples, "apiary_gpu_xid_events_total", gpu(0))).toEqual([]);
    expect(valueOf(samples, "apiary_gpu_xid_last", gpu(1))).toBe(79);
    expect(valueOf(samples, "apiary_gpu_ecc_uncorrected_volatile_errors", gpu(0))).toBe(0);
    expect(valueOf(samples, "apiary_gpu_pcie_link_width_max", gpu(0))).toBe(16);
    expect(valueOf(samples, "apiary_gpu_sm_clock_max_hertz", gpu(0))).toBe(1980e6);
    expect(valueOf(samples, "apiary_gpu_performance_state", gpu(0))).toBe(0);
    // H100 reports retired pages as [N/A]: no sample, never 0.
    expect(find(samples, "apiary_gpu_retired_pages_pending", gpu(0))).toEqual([]);
  }, 30_000);
});
