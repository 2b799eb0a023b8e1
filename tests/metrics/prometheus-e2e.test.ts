import { afterAll, describe, expect, it } from "vitest";
import { Cluster } from "../e2e/helpers/cluster.js";
import { waitFor } from "../helpers/wait.js";
import { PrometheusServer } from "./support/prometheus-server.js";

describe("a real Prometheus scraping a running queen and hive", () => {
  const cluster = new Cluster();
  let prometheus: PrometheusServer | undefined;
  afterAll(async () => {
    await prometheus?.stop();
    await cluster.cleanup();
  });

  it("scrapes both /metrics and answers PromQL over their series", async () => {
    await cluster.startQueen();
    await cluster.startHive();
    const workerId = `prom-${process.pid}`;
    await cluster.spawnDemo(workerId, "prom-model");
    const hostPort = (url: string) => new URL(url).host;
    prometheus = await PrometheusServer.start([
      { job: "apiary-queen", target: hostPort(cluster.queenUrl) },
      { job: "apiary-hive", target: hostPort(cluster.hiveUrl) },
    ]);
    const p = prometheus;

    await waitFor(
      async () => {
        const targets = await p.targets();
        return targets.length === 2 && targets.every((t) => t.health === "up");
      },
      "both targets up",
      30_000,
      250,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await p.targets())}\n${p.output.slice(-2000)}`);
    });

    const gpus = await waitFor(async () => {
      const r = await p.query(`apiary_gpu_memory_total_bytes{job="apiary-hive",hive="${cluster.hiveId}"}`);
      return r.length === 2 ? r : undefined;
    }, "the hive's GPU series in Prometheus", 30_000, 250);
    expect(gpus.map((s) => s.metric.model_name)).toEqual(["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"]);
    expect(Number(gpus[0].value[1])).toBe(81559 * 1024 * 1024);

    const rss = await waitFor(async () => {
      const r = await p.query(`apiary_worker_memory_rss_bytes{worker_id="${workerId}"}`);
      return r.length === 1 ? r : undefined;
    }, "the worker's RSS in Prometheus", 30_000, 250);
    expect(rss[0].metric).toMatchObject({ hive: cluster.hiveId, model: "prom-model" });

    const healthy = await waitFor(async () => {
      const r = await p.query(`apiary_queen_hives{job="apiary-queen",health="healthy"}`);
      return r.length === 1 && r[0].value[1] === "1" ? r : undefined;
    }, "the queen's healthy hive count", 30_000, 250);
    expect(healthy[0].metric.job).toBe("apiary-queen");
    const accepted = await waitFor(async () => {
      const r = await p.query(`apiary_queen_reports_accepted_total`);
      return r.length === 1 && Number(r[0].value[1]) > 0 ? r : undefined;
    }, "accepted reports counted", 30_000, 250);
    expect(Number(accepted[0].value[1])).toBeGreaterThan(0);
  });
});
