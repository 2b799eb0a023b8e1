import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { SpawnWorkerRequestSchema } from "../../../gen/apiary/v1/hive_pb.js";
import { parsePrometheusText } from "../../../src/hive/engine/prometheus-text.js";
import { freePort } from "../../../src/common/free-port.js";
import { startHive, type Hive } from "../../../src/hive/hive.js";
import { waitFor } from "../../helpers/wait.js";
import { promtoolCheck, scrape, valueOf } from "../../metrics/support/scrape.js";
import { demoWorker, tempDir } from "../hive-test-helpers.js";

let hive: Hive | undefined;
afterEach(async () => {
  await hive?.close({ stopWorkers: true });
  hive = undefined;
});

describe("engine load on the hive's /metrics", () => {
  it("re-exports each worker's engine load as apiary_worker_engine_* gauges", async () => {
    const h = (hive = await startHive({ port: 0, hiveId: "engine-metrics-hive", gpuEnabled: false, cgroupMode: "none", stateDir: `${tempDir("apiary-engine-series-")}/state`, tickIntervalMs: 200, logger: pino({ level: "silent" }) }));
    const port = await freePort();
    const workerId = `engine-series-${process.pid}`;
    await h.supervisor.spawn(
      create(SpawnWorkerRequestSchema, {
        workerId,
        model: "demo/llm",
        argv: [process.execPath, demoWorker, "--engine", "vllm", "--engine-port", String(port), "--engine-load", "3,2", "--model", "demo/llm"],
        engineMetrics: { case: "engineMetricsPort", value: port },
      }),
    );
    const labels = { hive: "engine-metrics-hive", worker_id: workerId, model: "demo/llm" };
    const { text, samples } = await waitFor(async () => {
      const s = await scrape(h.url);
      return s.samples.some((x) => x.name === "apiary_worker_engine_generation_tokens_per_second") ? s : undefined;
    }, "the engine series with a token rate");
    expect(valueOf(samples, "apiary_worker_engine_requests_running", labels)).toBe(3);
    expect(valueOf(samples, "apiary_worker_engine_requests_waiting", labels)).toBe(2);
    expect(valueOf(samples, "apiary_worker_engine_kv_cache_usage_ratio", labels)).toBeCloseTo(0.17, 9);
    expect(valueOf(samples, "apiary_worker_engine_sample_age_seconds", labels)).toBeLessThan(5);
    // Our own parser reads the hive's exposition too, without an unreadable line; promtool agrees.
    expect(parsePrometheusText(text).invalid).toEqual([]);
    const lint = await promtoolCheck(text);
    expect(lint.output).not.toMatch(/error/i);
  });
});
