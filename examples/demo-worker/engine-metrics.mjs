// The demo worker's engine mode: an HTTP server with a /metrics in vLLM's real V1 format
// (names, HELP/TYPE text, labels and histogram buckets as vLLM serves them), whose values move
// with a simulated request load.
//
//   load "R,W"   R requests running, W waiting, fixed until changed
//   load "wave"  running and waiting follow a slow wave (period 40–80 s, phase from the pid)
//   POST /load   body "R,W" or "wave" changes the load at once (tests swap loads with it)
//
// With `api`, the same port serves an OpenAI-like API (openai-api.mjs) whose requests add to the
// running and waiting counters: the simulated load is background traffic on top of real requests.
import { createServer } from "node:http";
import { createOpenAiApi } from "./openai-api.mjs";

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];
const PROMPT_TOKENS_PER_REQUEST_SEC = 60;
const GENERATED_TOKENS_PER_REQUEST_SEC = 25;

function parseLoad(text) {
  const t = String(text).trim();
  if (t === "wave") return { wave: true };
  const m = /^(\d+)\s*,\s*(\d+)$/.exec(t);
  if (!m) throw new Error(`engine load: expected "RUNNING,WAITING" or "wave", got ${JSON.stringify(t)}`);
  return { wave: false, running: Number(m[1]), waiting: Number(m[2]) };
}

class Histogram {
  constructor(bounds) {
    this.bounds = bounds;
    this.counts = bounds.map(() => 0);
    this.count = 0;
    this.sum = 0;
  }
  observe(value, times) {
    if (times <= 0) return;
    this.bounds.forEach((b, i) => {
      if (value <= b) this.counts[i] += times;
    });
    this.count += times;
    this.sum += value * times;
  }
  lines(name, labels) {
    const out = [];
    this.bounds.forEach((b, i) => out.push(`${name}_bucket{engine="0",le="${b.toFixed(Math.max(1, decimals(b)))}",model_name=${labels}} ${this.counts[i].toFixed(1)}`));
    out.push(`${name}_bucket{engine="0",le="+Inf",model_name=${labels}} ${this.count.toFixed(1)}`);
    out.push(`${name}_count{engine="0",model_name=${labels}} ${this.count.toFixed(1)}`);
    out.push(`${name}_sum{engine="0",model_name=${labels}} ${this.sum}`);
    return out;
  }
}

function decimals(x) {
  const s = String(x);
  return s.includes(".") ? s.split(".")[1].length : 0;
}

function escapeLabel(value) {
  return `"${String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/** Starts the engine endpoint; resolves with its port. `api`: { tokenMs, maxRunning } to serve the OpenAI-like API too. */
export function startEngineMetrics({ port, host = "127.0.0.1", model, load, api: apiOptions }) {
  let current = parseLoad(load ?? "wave");
  const startedMs = Date.now();
  const phase = (process.pid % 17) / 17;
  const period = 40 + (process.pid % 41);
  let promptTokens = 0;
  let generationTokens = 0;
  const ttft = new Histogram(TTFT_BUCKETS);
  const itl = new Histogram(ITL_BUCKETS);
  let lastMs = Date.now();
  let carry = 0;

  const simulated = () => {
    if (!current.wave) return { running: current.running, waiting: current.waiting };
    const x = Math.sin(2 * Math.PI * (((Date.now() - startedMs) / 1000 / period) + phase));
    const running = Math.round(8 + 7 * x);
    return { running, waiting: Math.max(0, Math.round(12 * x - 2)) };
  };
  const api = apiOptions ? createOpenAiApi({ ...apiOptions, model, background: simulated }) : undefined;
  const now = () => {
    const sim = simulated();
    if (!api) return sim;
    const real = api.load();
    return { running: sim.running + real.running, waiting: sim.waiting + real.waiting };
  };

  // Counters and histograms advance with the load, as a real engine's would.
  const advance = () => {
    const t = Date.now();
    const dt = (t - lastMs) / 1000;
    lastMs = t;
    const { running, waiting } = now();
    promptTokens += Math.round(running * PROMPT_TOKENS_PER_REQUEST_SEC * dt);
    generationTokens += Math.round(running * GENERATED_TOKENS_PER_REQUEST_SEC * dt);
    carry += running * dt * 0.5; // about one first token every two seconds per running request
    const firsts = Math.floor(carry);
    carry -= firsts;
    ttft.observe(0.03 + 0.02 * waiting, firsts);
    itl.observe(0.008 + 0.002 * running, Math.round(running * GENERATED_TOKENS_PER_REQUEST_SEC * dt));
  };
  const timer = setInterval(advance, 200);
  timer.unref();

  const exposition = () => {
    advance();
    const { running, waiting } = now();
    const m = escapeLabel(model);
    const kv = Math.min(1, running * 0.05 + waiting * 0.01);
    return [
      "# HELP vllm:num_requests_running Number of requests in model execution batches.",
      "# TYPE vllm:num_requests_running gauge",
      `vllm:num_requests_running{engine="0",model_name=${m}} ${running.toFixed(1)}`,
      "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
      "# TYPE vllm:num_requests_waiting gauge",
      `vllm:num_requests_waiting{engine="0",model_name=${m}} ${waiting.toFixed(1)}`,
      "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
      "# TYPE vllm:kv_cache_usage_perc gauge",
      `vllm:kv_cache_usage_perc{engine="0",model_name=${m}} ${kv}`,
      "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
      "# TYPE vllm:prompt_tokens_total counter",
      `vllm:prompt_tokens_total{engine="0",model_name=${m}} ${promptTokens.toFixed(1)}`,
      "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
      "# TYPE vllm:generation_tokens_total counter",
      `vllm:generation_tokens_total{engine="0",model_name=${m}} ${generationTokens.toFixed(1)}`,
      "# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.",
      "# TYPE vllm:time_to_first_token_seconds histogram",
      ...ttft.lines("vllm:time_to_first_token_seconds", m),
      "# HELP vllm:inter_token_latency_seconds Histogram of inter-token latency in seconds.",
      "# TYPE vllm:inter_token_latency_seconds histogram",
      ...itl.lines("vllm:inter_token_latency_seconds", m),
      "",
    ].join("\n");
  };

  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }).end(exposition());
    } else if (req.method === "POST" && req.url === "/load") {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        try {
          advance();
          current = parseLoad(body);
          res.writeHead(204).end();
        } catch (err) {
          res.writeHead(400).end(String(err.message));
        }
      });
    } else if (!api?.handle(req, res)) {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(port), host, () => resolve(server.address().port));
  });
}
