import { EngineKind } from "../../../gen/apiary/v1/telemetry_pb.js";

/** Samples of one name (optionally only those whose labels have these values), summed. */
export interface Selector {
  name: string;
  where?: Record<string, string>;
}

/**
 * KV-cache use: a gauge holding a ratio 0–1, or used and total (blocks, tokens) to divide. Every
 * engine seen exports a ratio, whatever its name says (`_perc`, `_percent`): none is divided by 100.
 */
export type KvSource = { ratio: Selector } | { used: Selector; total: Selector };

/** A histogram (its `_bucket` samples) and the seconds one unit of its bounds is worth. */
export interface HistogramSource {
  name: string;
  secondsPerUnit: number;
}

/**
 * How one engine's exposition maps to EngineLoad. Every list is tried in order and the first
 * source that has samples wins (newer names first, older after). Names are from the engines'
 * real /metrics (see the captures' SOURCES.md); none is guessed from documentation alone unless
 * marked.
 */
export interface EngineProfile {
  kind: EngineKind;
  /** Any family or sample name starting with one of these marks the engine. */
  prefixes: string[];
  /** Or, for engines without a prefix: a family of this name carrying this label. */
  labelledFamily?: { name: string; label: string };
  running: Selector[];
  waiting: Selector[];
  kv: KvSource[];
  promptTokens: Selector[];
  generationTokens: Selector[];
  ttft: HistogramSource[];
  itl: HistogramSource[];
  /** Label keys that carry the model name, in order of preference. */
  modelLabels: string[];
  /** Sample-name prefixes whose model label is preferred (their case is the model's own). */
  modelFrom?: string[];
}

const s = (name: string, where?: Record<string, string>): Selector => ({ name, where });
const seconds = (name: string): HistogramSource => ({ name, secondsPerUnit: 1 });

/** Detection order matters: an engine behind Dynamo also shows `dynamo_component_*` names. */
export const ENGINE_PROFILES: readonly EngineProfile[] = [
  {
    kind: EngineKind.VLLM,
    prefixes: ["vllm:"],
    running: [s("vllm:num_requests_running")],
    waiting: [s("vllm:num_requests_waiting")],
    // V1 names `kv_cache_usage_perc`, V0 `gpu_cache_usage_perc`: both ratios 0–1 despite the name.
    kv: [
      { ratio: s("vllm:kv_cache_usage_perc") },
      { ratio: s("vllm:gpu_cache_usage_perc") },
    ],
    promptTokens: [s("vllm:prompt_tokens_total")],
    generationTokens: [s("vllm:generation_tokens_total")],
    ttft: [seconds("vllm:time_to_first_token_seconds")],
    itl: [seconds("vllm:inter_token_latency_seconds"), seconds("vllm:time_per_output_token_seconds")],
    modelLabels: ["model_name"],
  },
  {
    kind: EngineKind.SGLANG,
    prefixes: ["sglang:"],
    running: [s("sglang:num_running_reqs")],
    waiting: [s("sglang:num_queue_reqs")],
    kv: [{ ratio: s("sglang:token_usage") }],
    promptTokens: [s("sglang:prompt_tokens_total")],
    generationTokens: [s("sglang:generation_tokens_total")],
    ttft: [seconds("sglang:time_to_first_token_seconds")],
    itl: [seconds("sglang:inter_token_latency_seconds"), seconds("sglang:time_per_output_token_seconds")],
    // v0.3.5 used `name` (a path), later `model_name`.
    modelLabels: ["model_name", "name"],
  },
  {
    kind: EngineKind.LLAMA_CPP,
    prefixes: ["llamacpp:"],
    running: [s("llamacpp:requests_processing")],
    waiting: [s("llamacpp:requests_deferred")],
    // Removed from mainline llama-server in 2025 (#13660); still in older builds and ik_llama.cpp.
    kv: [{ ratio: s("llamacpp:kv_cache_usage_ratio") }],
    promptTokens: [s("llamacpp:prompt_tokens_total")],
    generationTokens: [s("llamacpp:tokens_predicted_total")],
    ttft: [],
    itl: [],
    modelLabels: ["model"],
  },
  {
    kind: EngineKind.TGI,
    prefixes: ["tgi_"],
    running: [s("tgi_batch_current_size")],
    waiting: [s("tgi_queue_size")],
    kv: [],
    // TGI has no token counters; its length histograms' sums grow the same way (counted per finished request).
    promptTokens: [s("tgi_request_input_length_sum")],
    generationTokens: [s("tgi_request_generated_tokens_sum")],
    ttft: [],
    itl: [seconds("tgi_request_mean_time_per_token_duration")],
    modelLabels: [],
  },
  {
    kind: EngineKind.LMDEPLOY,
    prefixes: ["lmdeploy:"],
    running: [s("lmdeploy:num_requests_running")],
    waiting: [s("lmdeploy:num_requests_waiting")],
    kv: [{ ratio: s("lmdeploy:gpu_cache_usage_perc") }],
    promptTokens: [s("lmdeploy:prompt_tokens_total")],
    generationTokens: [s("lmdeploy:generation_tokens_total")],
    ttft: [seconds("lmdeploy:time_to_first_token_seconds")],
    itl: [seconds("lmdeploy:time_per_output_token_seconds")],
    modelLabels: ["model_name"],
  },
  {
    kind: EngineKind.TENSORRT_LLM,
    prefixes: ["trtllm_", "pytrtllm:"],
    labelledFamily: { name: "e2e_request_latency_seconds", label: "engine_type" },
    running: [s("pytrtllm:num_requests_running"), s("num_requests_running"), s("dynamo_component_inflight_requests")],
    waiting: [s("pytrtllm:num_requests_waiting"), s("num_requests_waiting")],
    kv: [
      { ratio: s("dynamo_component_kvstats_gpu_cache_usage_percent") },
      { ratio: s("kv_cache_utilization") },
    ],
    promptTokens: [s("pytrtllm:prompt_tokens_total"), s("trtllm_prompt_tokens_total")],
    generationTokens: [s("pytrtllm:generation_tokens_total"), s("trtllm_generation_tokens_total")],
    ttft: [seconds("trtllm_time_to_first_token_seconds"), seconds("time_to_first_token_seconds")],
    itl: [seconds("trtllm_time_per_output_token_seconds"), seconds("time_per_output_token_seconds")],
    modelLabels: ["model_name", "model"],
  },
  {
    kind: EngineKind.TRITON,
    prefixes: ["nv_trt_llm_", "nv_inference_"],
    running: [
      s("nv_trt_llm_request_metrics", { request_type: "active" }),
      s("nv_trt_llm_request_statistics", { request_type: "active" }),
    ],
    waiting: [s("nv_trt_llm_request_metrics", { request_type: "waiting" }), s("nv_inference_pending_request_count")],
    kv: [
      { ratio: s("nv_trt_llm_kv_cache_block_metrics", { kv_cache_block_type: "fraction" }) },
      {
        used: s("nv_trt_llm_kv_cache_block_metrics", { kv_cache_block_type: "used" }),
        total: s("nv_trt_llm_kv_cache_block_metrics", { kv_cache_block_type: "max" }),
      },
      {
        used: s("nv_trt_llm_kv_cache_block_statistics", { kv_cache_block_type: "used" }),
        total: s("nv_trt_llm_kv_cache_block_statistics", { kv_cache_block_type: "max" }),
      },
    ],
    promptTokens: [],
    generationTokens: [],
    ttft: [{ name: "nv_inference_first_response_histogram_ms", secondsPerUnit: 0.001 }],
    itl: [],
    modelLabels: ["model"],
  },
  {
    kind: EngineKind.DYNAMO,
    prefixes: ["dynamo_frontend_"],
    running: [s("dynamo_frontend_inflight_requests")],
    waiting: [s("dynamo_frontend_queued_requests")],
    kv: [{ ratio: s("dynamo_component_kvstats_gpu_cache_usage_percent") }],
    promptTokens: [s("dynamo_frontend_input_sequence_tokens_sum")],
    generationTokens: [s("dynamo_frontend_output_tokens_total")],
    ttft: [seconds("dynamo_frontend_time_to_first_token_seconds")],
    itl: [seconds("dynamo_frontend_inter_token_latency_seconds")],
    modelLabels: ["model"],
    // Request metrics lower-case the model; the model_* gauges keep its case.
    modelFrom: ["dynamo_frontend_model_"],
  },
];
