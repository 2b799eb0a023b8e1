import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, DEMO_WORKER } from "../e2e/helpers/cluster.js";
import { waitFor } from "../helpers/wait.js";
import { repoRoot } from "../hive/hive-test-helpers.js";

// Set APIARY_DASHBOARD_SCREENSHOT=docs/dashboard.png to also keep the screenshot for the README.
const KEEP_SCREENSHOT = process.env.APIARY_DASHBOARD_SCREENSHOT;

describe("the web dashboard in a real browser", () => {
  const cluster = new Cluster();
  const dir = mkdtempSync(path.join(os.tmpdir(), "apiary-dashboard-"));
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const spawnedGroups: number[] = [];

  beforeAll(async () => {
    // Test the page built from the sources as they are now (npm ci builds it too).
    const { buildDashboard } = (await import(pathToFileURL(path.join(repoRoot, "scripts/build-dashboard.mjs")).href)) as { buildDashboard: () => Promise<string> };
    await buildDashboard();
    await cluster.startQueen();
    await cluster.startHive(["--gpu-deadline", "5s"]);
    // The fake nvidia-smi is a node process per call: on a loaded machine its answers take seconds.
    const devices = await waitFor(async () => {
      const d = (await cluster.queenClient.getHive({ hiveId: cluster.hiveId }).catch(() => undefined))?.hive?.devices ?? [];
      return d.length === 2 ? d : undefined;
    }, "the hive's GPUs at the queen", 60_000, 200);
    // Workers on a GPU (the fake nvidia-smi reports VRAM and SM % for processes given one).
    for (const [id, model, gpu] of [[`dash-a-${process.pid}`, "llama-3-8b", 0], [`dash-b-${process.pid}`, "mistral-7b", 1]] as const) {
      const res = await cluster.hiveClient.spawnWorker({
        workerId: id, model, gpuUuids: [devices[gpu].uuid],
        argv: [process.execPath, DEMO_WORKER, "--model", model, "--cpu", "0.2", "--memory", "48MiB"],
      });
      spawnedGroups.push(res.worker!.pid);
    }
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const context = await browser.newContext({ viewport: { width: 1480, height: 820 } });
    page = await context.newPage();
    page.on("pageerror", (err) => pageErrors.push(String(err)));
  });

  afterAll(async () => {
    await browser?.close();
    await cluster.cleanup();
    for (const pgid of spawnedGroups) {
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const hiveRow = () => page.locator(`tr[data-hive-id="${cluster.hiveId}"]`);
  const workerRow = (id: string) => page.locator(`tr[data-worker-id="${id}"]`);

  it("shows the hive, its GPUs and workers live, and a spawned worker within 3 s", async () => {
    await page.goto(cluster.queenUrl);
    await expect.poll(() => page.locator("#status").getAttribute("data-state"), { timeout: 15_000 }).toBe("live");
    await hiveRow().waitFor({ timeout: 10_000 });
    expect(await hiveRow().locator(".health").textContent()).toBe("HEALTHY");
    await workerRow(`dash-a-${process.pid}`).waitFor({ timeout: 10_000 });
    await workerRow(`dash-b-${process.pid}`).waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator("tr[data-gpu-uuid]").count(), { timeout: 10_000 }).toBe(2);
    expect(await page.locator("tr[data-gpu-uuid] .vram .bar").count()).toBe(2);

    const spawnedAt = Date.now();
    const id = `dash-new-${process.pid}`;
    await cluster.spawnDemo(id, "qwen-2-7b");
    await workerRow(id).waitFor({ timeout: 3_000 });
    expect(Date.now() - spawnedAt).toBeLessThan(3_000);
    await expect.poll(() => workerRow(id).locator(".state").textContent(), { timeout: 5_000 }).toBe("RUNNING");
  });

  it("keeps filters and sort order in the URL", async () => {
    await page.fill("#filter-model", "mistral-7b");
    await expect.poll(() => page.locator("#workers tbody tr").count()).toBe(1);
    expect(new URL(page.url()).searchParams.get("model")).toBe("mistral-7b");
    await page.reload();
    await expect.poll(() => page.locator("#workers tbody tr").count(), { timeout: 10_000 }).toBe(1);
    expect(await page.inputValue("#filter-model")).toBe("mistral-7b");
    await page.fill("#filter-model", "");
    await expect.poll(() => page.locator("#workers tbody tr").count()).toBe(3);

    await page.click('button[data-sort="model"]');
    await page.click('button[data-sort="model"]');
    expect(new URL(page.url()).searchParams.get("dir")).toBe("desc");
    const models = await page.locator("#workers tbody tr td:nth-child(3)").allTextContents();
    expect(models).toEqual([...models].sort().reverse());
    // Sparklines fill as updates arrive.
    await expect.poll(() => page.locator(`tr[data-worker-id="dash-a-${process.pid}"] svg.cpu polyline`).count(), { timeout: 10_000 }).toBe(1);
    const shot = path.join(dir, "dashboard.png");
    await page.screenshot({ path: shot, fullPage: true });
    if (KEEP_SCREENSHOT) copyFileSync(shot, KEEP_SCREENSHOT);
  });

  it("recovers after a queen restart: a new epoch, a fresh snapshot, the hive back", async () => {
    const epoch = await page.locator("#meta").getAttribute("data-epoch");
    const port = new URL(cluster.queenUrl).port;
    await cluster.queen.stop();
    await expect.poll(() => page.locator("#status").getAttribute("data-state"), { timeout: 10_000 }).toBe("reconnecting");
    await cluster.startQueen(Number(port));
    await expect.poll(() => page.locator("#meta").getAttribute("data-epoch"), { timeout: 30_000 }).not.toBe(epoch);
    await expect.poll(() => page.locator("#status").getAttribute("data-state"), { timeout: 10_000 }).toBe("live");
    await hiveRow().waitFor({ timeout: 30_000 });
    await workerRow(`dash-a-${process.pid}`).waitFor({ timeout: 10_000 });
  });

  it("shows a SIGKILLed hive turn DEGRADED, then DOWN", async () => {
    // Each read gives up at once when the row is missing, so the poll's own timeout (and message) decides:
    // a locator's default wait (30 s per read) let one missing row run past the test's 60 s.
    const health = () => hiveRow().locator(".health").textContent({ timeout: 1_000 }).catch(() => "(no hive row)");
    await expect.poll(health, { timeout: 10_000 }).toBe("HEALTHY");
    cluster.hive.signal("SIGKILL");
    await expect.poll(health, { timeout: 10_000, interval: 50 }).toBe("DEGRADED");
    await expect.poll(health, { timeout: 10_000, interval: 50 }).toBe("DOWN");
    expect(pageErrors).toEqual([]);
  });
});
