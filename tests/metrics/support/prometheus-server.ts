import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../../src/common/free-port.js";
import { waitFor } from "../../helpers/wait.js";

export interface ScrapeJob {
  job: string;
  /** host:port */
  target: string;
}

/** A real Prometheus server (Debian's `prometheus`) with its own config and data dir in a temp folder, on loopback. */
export class PrometheusServer {
  output = "";
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (this.output += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (this.output += d));
  }

  static async start(jobs: ScrapeJob[], scrapeIntervalS = 1): Promise<PrometheusServer> {
    const dir = mkdtempSync(path.join(os.tmpdir(), "apiary-prometheus-"));
    const config = [
      "global:",
      `  scrape_interval: ${scrapeIntervalS}s`,
      `  scrape_timeout: ${scrapeIntervalS}s`,
      "scrape_configs:",
      ...jobs.flatMap((j) => [`  - job_name: ${j.job}`, "    static_configs:", `      - targets: ["${j.target}"]`]),
      "",
    ].join("\n");
    writeFileSync(path.join(dir, "prometheus.yml"), config);
    const port = await freePort();
    const child = spawn(
      "prometheus",
      [`--config.file=${path.join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${path.join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child, dir);
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}):\n${server.output.slice(-2000)}`);
        return (await fetch(`${server.url}/-/ready`).catch(() => undefined))?.status === 200;
      },
      "prometheus to be ready",
      30_000,
      100,
    );
    return server;
  }

  /** An instant query through the HTTP API; resolves with the result vector. */
  async query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== "success") throw new Error(`query ${promql}: ${body.error}`);
    return body.data.result;
  }

  /** Scrape targets with their health, as Prometheus sees them. */
  async targets(): Promise<{ job: string; health: string; lastError: string }[]> {
    const res = await fetch(`${this.url}/api/v1/targets`);
    const body = (await res.json()) as { data: { activeTargets: { labels: { job: string }; health: string; lastError: string }[] } };
    return body.data.activeTargets.map((t) => ({ job: t.labels.job, health: t.health, lastError: t.lastError }));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
