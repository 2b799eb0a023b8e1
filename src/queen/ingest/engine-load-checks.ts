import type { EngineLoad } from "../../../gen/apiary/v1/telemetry_pb.js";
import { EngineKind } from "../../../gen/apiary/v1/telemetry_pb.js";
import { checkEnum, checkNumber, checkText, checkTimestamp, checkWithin } from "../../contracts/field-checks.js";

/** More requests than any engine holds; more tokens per second than any machine makes. */
const MAX_REQUESTS = 10_000_000;
const MAX_TOKENS_PER_SEC = 1e9;

/** Checks a reported EngineLoad; throws INVALID_ARGUMENT naming the field. */
export function validateEngineLoad(field: string, load: EngineLoad | undefined): void {
  if (load) checkWithin(field, load, engineLoadFields);
}

function engineLoadFields(load: EngineLoad): void {
  // Kinds added later by newer hives are accepted (an older queen treats them as unknown).
  checkEnum("kind", load.kind, EngineKind.UNSPECIFIED, 1000);
  checkText("version", load.version, 128);
  checkText("model", load.model, 1024);
  checkText("endpoint", load.endpoint, 2048);
  checkNumber("requests_running", load.requestsRunning, 0, MAX_REQUESTS);
  checkNumber("requests_waiting", load.requestsWaiting, 0, MAX_REQUESTS);
  checkNumber("kv_cache_usage_ratio", load.kvCacheUsageRatio, 0, 1);
  checkNumber("prompt_tokens_per_sec", load.promptTokensPerSec, 0, MAX_TOKENS_PER_SEC);
  checkNumber("generation_tokens_per_sec", load.generationTokensPerSec, 0, MAX_TOKENS_PER_SEC);
  checkTimestamp("ttft_p50", load.ttftP50);
  checkTimestamp("ttft_p95", load.ttftP95);
  checkTimestamp("inter_token_latency_p50", load.interTokenLatencyP50);
  checkTimestamp("inter_token_latency_p95", load.interTokenLatencyP95);
  checkTimestamp("age", load.age);
  checkTimestamp("sampled_at", load.sampledAt);
}
