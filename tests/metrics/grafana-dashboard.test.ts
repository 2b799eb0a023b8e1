import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { HiveService } from "../../gen/apiary/v1/hive_pb.js";
import { startHive, type Hive } from "../../src/hive/hive.js";
import { startQueen, type Queen } from "../../src/queen/queen.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { demoWorker, fakeNvidiaSmi, repoRoot, tempDir } from "../hive/hive-test-helpers.js";
import { waitFor } from "../helpers/wait.js";
import { find, scrape } from "./support/scrape.js";

const DASHBOARD = path.join(repoRoot, "examples/grafana/apiary-dashboard.json");

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { refId: string; expr: string }[];
}

/** Every PromQL expression of the dashboard, with Grafana's variables replaced by what they match. */
function expressions(dashboard: { panels: Panel[]; templating: { list: { query?: unknown }[] } }): string[] {
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  for (const v of dashboard.templating.list) {
    const q = v.query as { query?: string } | string | undefined;
    const text = typeof q === "string" ? q : q?.query;
    const m = text && /^label_values\((\w+),\s*\w+\)$/.exec(text);
    if (m) exprs.push(m[1]);
  }
  return exprs.map((e) => e.replaceAll("$hive", ".*").replaceAll("$model", ".*"));
}

describe("the Grafana dashboard in examples/grafana", () => {
  let queen: Queen | undefined;
  let hive: Hive | undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), "apiary-grafana-"));
  afterAll(async () => {
    await hive?.close({ stopWorkers: true });
    await queen?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: Panel[]; templating: { list: { query?: unknown }[] } };

  it("parses, with unique panel ids and a query in every panel", () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels.filter((x) => x.type !== "row")) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(p.gridPos.w).toBeGreaterThan(0);
    }
    expect(dashboard.panels.map((p) => p.title)).toEqual(expect.arrayContaining(["Hives by health", "GPU utilisation", "Worker CPU (cores)", "Worker VRAM", "Ack latency", "Watchers and queue depth"]));
  });

  it("has only valid PromQL (promtool check rules)", async () => {
    const rules = ["groups:", "  - name: apiary-dashboard", "    rules:"];
    expressions(dashboard).forEach((expr, i) => rules.push(`      - record: dashboard:expr${i}`, `        expr: ${JSON.stringify(expr)}`));
    const file = path.join(dir, "rules.yml");
    writeFileSync(file, rules.join("\n") + "\n");
    const { stdout } = await promisify(execFile)("promtool", ["check", "rules", file]);
    expect(stdout).toMatch(/SUCCESS/);
  });

  it("references only metrics a running queen and hive export", async () => {
    queen = await startQueen({ host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }), shutdownGraceMs: 200, reportIntervalMs: 200 });
    process.env.FAKE_NVIDIA_SMI_GPUS = "2";
    hive = await startHive({
      queenUrl: queen.url, port: 0, hiveId: "grafana-hive", nvidiaSmiPath: fakeNvidiaSmi, cgroupMode: "none",
      stateDir: `${tempDir("apiary-grafana-hive-")}/state`, tickIntervalMs: 200, reportIntervalMs: 200, gpuDeadlineMs: 5000, logger: pino({ level: "silent" }),
    });
    const h = hive;
    await waitFor(() => h.monitor.latest()?.devices.length === 2, "a first report with the fake GPUs", 30_000);
    const hiveClient = createClient(HiveService, createApiaryTransport(hive.url));
    await hiveClient.spawnWorker({ workerId: `grafana-${process.pid}`, model: "m", gpuUuids: [h.monitor.latest()!.devices[0].uuid], argv: [process.execPath, demoWorker, "--cpu", "0.1"] });
    const hiveScrape = await waitFor(async () => {
      const s = await scrape(h.url);
      return find(s.samples, "apiary_worker_cpu_seconds_total").length > 0 && find(s.samples, "apiary_worker_vram_used_bytes").length > 0 ? s : undefined;
    }, "the worker's series", 30_000);
    const queenScrape = await scrape(queen.url);
    const exported = new Set([...hiveScrape.samples, ...queenScrape.samples].map((s) => s.name));

    const referenced = new Set(expressions(dashboard).flatMap((e) => [...e.matchAll(/\b(apiary_[a-z0-9_]+)/g)].map((m) => m[1])));
    expect(referenced.size).toBeGreaterThan(20);
    expect([...referenced].filter((name) => !exported.has(name))).toEqual([]);
  });
});
