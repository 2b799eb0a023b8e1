// The repository's own expositions in each engine's real format (tests/hive/engine/fixtures):
// every engine's names mapped to the one EngineLoad contract.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { EngineKind } from "../../../gen/apiary/v1/telemetry_pb.js";
import { interpretBody } from "../../../src/hive/engine/engine-scraper.js";
import { quantile } from "../../../src/hive/engine/histogram.js";

const read = (name: string) => interpretBody(readFileSync(path.join(import.meta.dirname, "fixtures", name), "utf8"));

describe("engine names mapped to EngineLoad", () => {
  it("vLLM V1: sums running and waiting over data-parallel ranks, KV ratio is their mean, _created gauges ignored", () => {
    const { reading, error } = read("vllm-v1-two-ranks.txt");
    expect(error).toBeUndefined();
    expect(reading).toMatchObject({ kind: EngineKind.VLLM, model: "Qwen/Qwen3-8B", running: 5, waiting: 4, promptTokensTotal: 1500, generationTokensTotal: 6000 });
    expect(reading!.kvRatio).toBeCloseTo(0.3, 12);
    expect(reading!.ttft).toEqual({ bounds: [0.02, 0.04, 0.1, Infinity], counts: [0, 10, 18, 20] });
    expect(reading!.itl!.counts.at(-1)).toBe(1000);
  });

  it("vLLM V0: gpu_cache_usage_perc is a ratio (0.875, not 0.00875); swapped requests are not waiting", () => {
    const { reading } = read("vllm-v0.txt");
    expect(reading).toMatchObject({ kind: EngineKind.VLLM, running: 6, waiting: 2, kvRatio: 0.875, promptTokensTotal: 31337, generationTokensTotal: 4242 });
    expect(reading!.itl!.counts).toEqual([5, 50, 60]);
  });

  it("llama.cpp: requests_processing / requests_deferred, kv_cache_usage_ratio, tokens_predicted_total; -nan is no value", () => {
    const { reading, error } = read("llamacpp.txt");
    expect(error).toBeUndefined();
    expect(reading).toMatchObject({ kind: EngineKind.LLAMA_CPP, model: "", running: 2, waiting: 1, kvRatio: 0.125, promptTokensTotal: 2048, generationTokensTotal: 512 });
    expect(reading!.ttft).toBeUndefined();
  });

  it("SGLang: num_running_reqs / num_queue_reqs, token_usage ratio, _sum printed before the buckets", () => {
    const { reading } = read("sglang.txt");
    expect(reading).toMatchObject({ kind: EngineKind.SGLANG, model: "meta-llama/Llama-3.1-8B-Instruct", running: 12, waiting: 7, kvRatio: 0.61, promptTokensTotal: 900000, generationTokensTotal: 1200000 });
    expect(quantile(reading!.ttft!.bounds, reading!.ttft!.counts, 0.5)).toBeCloseTo(0.1 + 0.4 * (40 / 80), 12);
  });

  it("TGI: batch size running, queue size waiting, no KV value (a token budget is not KV use), token sums from histograms", () => {
    const { reading } = read("tgi.txt");
    expect(reading).toMatchObject({ kind: EngineKind.TGI, running: 9, waiting: 5, kvRatio: undefined, promptTokensTotal: 420, generationTokensTotal: 900 });
  });

  it("a ratio-named gauge holding a percentage is unknown, never rescaled or clamped", () => {
    const body = "# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{model_name=\"m\"} 28.0\nvllm:num_requests_running{model_name=\"m\"} 1\n";
    const { reading } = interpretBody(body);
    expect(reading!.kvRatio).toBeUndefined();
    expect(reading!.running).toBe(1);
  });

  it("garbage is an error with no reading: HTML, JSON, empty, unknown names", () => {
    expect(interpretBody("<html><body>404</body></html>").error).toMatch(/HTML/);
    expect(interpretBody("[]").error).toMatch(/JSON/);
    expect(interpretBody("").error).toBe("empty response");
    expect(interpretBody("\"# HELP llamacpp:x\\n\"").error).toMatch(/quoted string/);
    expect(interpretBody("process_cpu_seconds_total 3\n").error).toMatch(/no known engine's metrics/);
    expect(interpretBody("hello world\nfoo bar\n").error).toMatch(/unreadable line/);
    for (const body of ["<html>", "[]", "", "process_cpu_seconds_total 3\n"]) expect(interpretBody(body).reading).toBeUndefined();
  });
});
