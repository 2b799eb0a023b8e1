// Parses the real engine /metrics captures kept outside the repository
// (../shared/fixtures/engine-metrics, see its SOURCES.md) in place and checks the normalised
// values that can be read off each. Where that folder is absent the suite does not run; the
// repository's own fixtures (engine-fixtures.test.ts) cover the same engines and formats.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { EngineKind } from "../../../gen/apiary/v1/telemetry_pb.js";
import { interpretBody } from "../../../src/hive/engine/engine-scraper.js";
import type { EngineReading } from "../../../src/hive/engine/engine-reading.js";
import { parsePrometheusText } from "../../../src/hive/engine/prometheus-text.js";
import { repoRoot } from "../hive-test-helpers.js";

const capturedDir = path.resolve(repoRoot, "../shared/fixtures/engine-metrics");
const capturedExists = existsSync(capturedDir);

type Expected = Partial<Omit<EngineReading, "ttft" | "itl">> & { ttftCount?: number; itlCount?: number; errorMatches?: RegExp };

/** What each capture says, read off the file by eye (SOURCES.md describes each). */
const EXPECT: Record<string, Expected> = {
  "dynamo__2026-01-frontend__1-request-done__fe-log.txt": {
    kind: EngineKind.DYNAMO, model: "Qwen/Qwen3-0.6B", running: 0, waiting: 0, kvRatio: undefined,
    promptTokensTotal: 33, generationTokensTotal: 300, ttftCount: 1, itlCount: 299,
  },
  "ik-llamacpp__2025-08__after-requests__kv_cache_usage_ratio.txt": {
    kind: EngineKind.LLAMA_CPP, model: "", running: 0, waiting: 0, kvRatio: 0.491063, promptTokensTotal: 6886, generationTokensTotal: 3469,
  },
  "llamacpp__2025-06-pr13196-vulkan-build__after-requests__cut.txt": {
    kind: EngineKind.LLAMA_CPP, running: undefined, waiting: undefined, kvRatio: undefined, promptTokensTotal: 143, generationTokensTotal: 673,
  },
  // `-nan` (C's 0/0) is read as NaN, so the capture parses; requests_* come after the cut.
  "llamacpp__b4687-era__idle-before-first-request__minus-nan__cut.txt": {
    kind: EngineKind.LLAMA_CPP, running: undefined, promptTokensTotal: 0, generationTokensTotal: 0,
  },
  "sglang__v0.3.5-pr1853-review__early-name-label__post-metrics__cut.txt": {
    kind: EngineKind.SGLANG, model: "/shared/public/elr-models/meta-llama/Llama-3.2-3B/5cc0ffe09ee49f7be6ca7c794ee6bd7245e84e60/",
    running: undefined, promptTokensTotal: 230794,
  },
  "sglang__v0.4-docs__under-load-162-running-2826-queued.txt": {
    kind: EngineKind.SGLANG, model: "meta-llama/Llama-3.1-8B-Instruct", running: 162, waiting: 2826, kvRatio: 0.28,
    promptTokensTotal: 8128902, generationTokensTotal: 7557572, ttftCount: 11008, itlCount: 7400757,
  },
  "sglang__v0.4.4-pr4412__idle__engine_type-label__cut.txt": {
    kind: EngineKind.SGLANG, model: "/shared/public/models/Meta-Llama-3-8B-Instruct", running: 0, waiting: undefined, kvRatio: 0,
  },
  "tgi__v3-likely-datadog-fixture__after-109-requests-idle__blank-line-separated__cut.txt": {
    kind: EngineKind.TGI, model: "", running: 0, waiting: 0, kvRatio: undefined, promptTokensTotal: 662,
  },
  // 1 used of 6239 blocks; 23.11's "active" request count is 0.
  "triton-trtllm-backend__23.11__nv_trt_llm-statistics-inflight-batcher.txt": {
    kind: EngineKind.TRITON, model: "tensorrt_llm", running: 0, kvRatio: 1 / 6239,
  },
  "triton__23.11-trtllm-backend__nv_inference-counters-all-zero.txt": {
    kind: EngineKind.TRITON, model: "tensorrt_llm", running: undefined, waiting: 0,
  },
  "trtllm__1.x-pytorch-aibrix-2004__metrics-endpoint-empty-json-array.txt": { errorMatches: /JSON, not the Prometheus text format/ },
  // model_name="undefined" is no model.
  "trtllm__1.x-pytorch-aibrix-2004__prometheus-metrics-no-prefix-undefined-labels__user-truncated.txt": {
    kind: EngineKind.TENSORRT_LLM, model: "", running: undefined, waiting: undefined,
  },
  "trtllm__pr5560-unmerged__pytrtllm-prefix-no-help-type__1-running__cut.txt": {
    kind: EngineKind.TENSORRT_LLM, model: "deepseek-ai/DeepSeek-V3-0324", running: 1, waiting: 0, promptTokensTotal: 201121, generationTokensTotal: 81896,
  },
  "trtllm__trtllm-serve-docs__metrics-endpoint-json-iteration-stats__elided.txt": { errorMatches: /JSON/ },
  "trtllm__via-dynamo-2026-01__2-requests-done__created-gauges.txt": {
    kind: EngineKind.TENSORRT_LLM, model: "Qwen/Qwen3-0.6B", running: 0, waiting: undefined, kvRatio: 0, ttftCount: 2, itlCount: 2,
  },
  // Families declared with no samples: present, no value (never 0).
  "vllm__v0.5-0.6-v0-engine-functionary__help-type-only-no-samples__cut.txt": {
    kind: EngineKind.VLLM, model: "", running: undefined, waiting: undefined, kvRatio: undefined, promptTokensTotal: undefined,
  },
  "vllm__v0.7-v0-engine__4-requests-done-idle__aibrix-docs.txt": {
    kind: EngineKind.VLLM, model: "Qwen/Qwen2.5-Coder-1.5B-Instruct", running: 0, waiting: 0, kvRatio: 0, promptTokensTotal: 148, generationTokensTotal: 955,
  },
  // The doc's literal `...` lines are reported; the families around them are still read.
  "vllm__v1-engine-design-doc__under-load-8-running__elided-with-dots.txt": {
    kind: EngineKind.VLLM, model: "meta-llama/Llama-3.1-8B-Instruct", running: 8, waiting: undefined, generationTokensTotal: 27453, ttftCount: 140,
    errorMatches: /3 unreadable line\(s\), first line 4/,
  },
  "vllm__v1-engine-via-dynamo-2026-01__2-requests-done__created-gauges__cut.txt": {
    kind: EngineKind.VLLM, model: "Qwen/Qwen3-0.6B", running: 0, waiting: 0, kvRatio: 0, promptTokensTotal: 66, generationTokensTotal: 600,
  },
};

describe.skipIf(!capturedExists)("real engine /metrics captures, parsed in place", () => {
  const files = capturedExists ? readdirSync(capturedDir).filter((f) => f.endsWith(".txt")).sort() : [];

  it("has an expectation for every capture in the folder", () => {
    expect(files.length).toBeGreaterThanOrEqual(19);
    expect(files.filter((f) => !(f in EXPECT))).toEqual([]);
  });

  it.each(files)("%s", (file) => {
    const body = readFileSync(path.join(capturedDir, file), "utf8");
    const want = EXPECT[file];
    const got = interpretBody(body);
    if (want.errorMatches) expect(got.error).toMatch(want.errorMatches);
    else expect(got.error).toBeUndefined();
    if (want.kind === undefined) {
      expect(got.reading).toBeUndefined();
      return;
    }
    const r = got.reading!;
    expect(r.kind).toBe(want.kind);
    for (const key of ["model", "running", "waiting", "promptTokensTotal", "generationTokensTotal"] as const) {
      if (key in want) expect(r[key], key).toBe(want[key]);
    }
    if ("kvRatio" in want) {
      if (want.kvRatio === undefined) expect(r.kvRatio).toBeUndefined();
      else expect(r.kvRatio).toBeCloseTo(want.kvRatio, 9);
    }
    if ("ttftCount" in want) expect(r.ttft?.counts.at(-1)).toBe(want.ttftCount);
    if ("itlCount" in want) expect(r.itl?.counts.at(-1)).toBe(want.itlCount);
  });

  it("parses every Prometheus-text capture without an unreadable line except the doc's elisions", () => {
    for (const file of files) {
      const body = readFileSync(path.join(capturedDir, file), "utf8");
      if (/^\s*[[{]/.test(body)) continue; // the JSON bodies
      const { invalid } = parsePrometheusText(body);
      expect(invalid.map((l) => l.text), file).toEqual(file.includes("elided-with-dots") ? ["...", "...", "..."] : []);
    }
  });
});
