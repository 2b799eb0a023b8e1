import type { Duration } from "@bufbuild/protobuf/wkt";
import type { WorkerSeries } from "../../contracts/telemetry-series.js";

const seconds = (d: Duration | undefined) => (d === undefined ? undefined : Number(d.seconds) + d.nanos / 1e9);

/**
 * The workers' engine load on the hive's /metrics (WorkerTelemetry.engine_load), one gauge each,
 * absent where the engine does not export the value. Stale values are exported with their age.
 */
export const ENGINE_WORKER_SERIES: readonly WorkerSeries[] = [
  { name: "apiary_worker_engine_requests_running", help: "Requests the worker's inference engine is processing (its own /metrics, e.g. vllm:num_requests_running).", value: (w) => w.engineLoad?.requestsRunning },
  { name: "apiary_worker_engine_requests_waiting", help: "Requests queued in the worker's inference engine, not yet started.", value: (w) => w.engineLoad?.requestsWaiting },
  { name: "apiary_worker_engine_kv_cache_usage_ratio", help: "KV-cache use of the worker's inference engine, 0-1.", value: (w) => w.engineLoad?.kvCacheUsageRatio },
  { name: "apiary_worker_engine_prompt_tokens_per_second", help: "Prompt tokens the engine processed per second over the last interval.", value: (w) => w.engineLoad?.promptTokensPerSec },
  { name: "apiary_worker_engine_generation_tokens_per_second", help: "Tokens the engine generated per second over the last interval.", value: (w) => w.engineLoad?.generationTokensPerSec },
  { name: "apiary_worker_engine_ttft_p50_seconds", help: "Median time to first token over the last interval, seconds.", value: (w) => seconds(w.engineLoad?.ttftP50) },
  { name: "apiary_worker_engine_ttft_p95_seconds", help: "95th percentile time to first token over the last interval, seconds.", value: (w) => seconds(w.engineLoad?.ttftP95) },
  { name: "apiary_worker_engine_inter_token_latency_p50_seconds", help: "Median inter-token latency over the last interval, seconds.", value: (w) => seconds(w.engineLoad?.interTokenLatencyP50) },
  { name: "apiary_worker_engine_inter_token_latency_p95_seconds", help: "95th percentile inter-token latency over the last interval, seconds.", value: (w) => seconds(w.engineLoad?.interTokenLatencyP95) },
  { name: "apiary_worker_engine_sample_age_seconds", help: "Age of the engine values above: about 0 while scrapes succeed, growing while they fail.", value: (w) => seconds(w.engineLoad?.age) },
];
