import { describe, expect, it } from "vitest";
import { checkMetricsUrl, resolveMetricsEndpoint, METRICS_PORT_LABEL, METRICS_URL_LABEL } from "../../../src/hive/engine/metrics-endpoint.js";

const own = new Set(["localhost", "127.0.0.1", "::1", "gpu-node-7", "10.1.2.3"]);
const resolve = (argv: string[], extra: Partial<Parameters<typeof resolveMetricsEndpoint>[0]> = {}) =>
  resolveMetricsEndpoint({ argv, labels: {}, ...extra }, own);

describe("engine metrics endpoint", () => {
  it("takes SpawnWorker's url or port first", () => {
    expect(resolve(["vllm", "serve", "m", "--port", "9000"], { url: "http://10.1.2.3:8001/metrics" })).toBe("http://10.1.2.3:8001/metrics");
    expect(resolve(["x"], { url: "http://127.0.0.1:8001" })).toBe("http://127.0.0.1:8001/metrics");
    expect(resolve(["x"], { port: 8123 })).toBe("http://127.0.0.1:8123/metrics");
    expect(resolve(["vllm", "serve", "m"], { disabled: true })).toBe("");
  });

  it("finds vLLM, llama.cpp, SGLang and TGI ports on their command lines, with their defaults", () => {
    expect(resolve(["vllm", "serve", "Qwen/Qwen3-8B", "--port", "8100"])).toBe("http://127.0.0.1:8100/metrics");
    expect(resolve(["/opt/venv/bin/vllm", "serve", "m", "--host", "0.0.0.0"])).toBe("http://127.0.0.1:8000/metrics");
    expect(resolve(["python", "-m", "vllm.entrypoints.openai.api_server", "--model", "m", "--port=8200"])).toBe("http://127.0.0.1:8200/metrics");
    expect(resolve(["llama-server", "-m", "x.gguf", "--metrics", "--port", "8081"])).toBe("http://127.0.0.1:8081/metrics");
    expect(resolve(["/usr/bin/llama-server", "-m", "x.gguf", "--metrics"])).toBe("http://127.0.0.1:8080/metrics");
    expect(resolve(["llama-server", "-m", "x.gguf"])).toBe(""); // no --metrics: llama-server serves none
    expect(resolve(["python3", "-m", "sglang.launch_server", "--model-path", "m", "--port", "30001", "--enable-metrics"])).toBe("http://127.0.0.1:30001/metrics");
    expect(resolve(["python3", "-m", "sglang.launch_server", "--model-path", "m"])).toBe("");
    expect(resolve(["text-generation-launcher", "--model-id", "m", "--port", "8080"])).toBe("http://127.0.0.1:8080/metrics");
    expect(resolve(["text-generation-launcher", "--model-id", "m", "--prometheus-port", "9100"])).toBe("http://127.0.0.1:9100/metrics");
    expect(resolve(["vllm", "serve", "m", "--host", "10.1.2.3", "--port", "8000"])).toBe("http://10.1.2.3:8000/metrics");
  });

  it("falls back to the worker's labels", () => {
    expect(resolve(["python", "my_server.py"], { labels: { [METRICS_PORT_LABEL]: "9400" } })).toBe("http://127.0.0.1:9400/metrics");
    expect(resolve(["python", "my_server.py"], { labels: { [METRICS_URL_LABEL]: "http://localhost:9400/stats" } })).toBe("http://localhost:9400/stats");
    expect(resolve(["python", "my_server.py"])).toBe("");
  });

  it("accepts only loopback or the hive's own addresses, and names the field", () => {
    expect(() => resolve(["x"], { url: "http://192.168.9.9:8000/metrics" })).toThrow("engine_metrics_url: host 192.168.9.9 is neither loopback nor this hive's own address");
    expect(() => resolve(["x"], { url: "http://metadata.google.internal/" })).toThrow(/engine_metrics_url/);
    expect(() => resolve(["x"], { url: "file:///etc/passwd" })).toThrow("engine_metrics_url: must be an http:// or https:// URL");
    expect(() => resolve(["x"], { url: "http://u:p@127.0.0.1/" })).toThrow(/credentials/);
    expect(() => resolve(["x"], { port: 0 })).toThrow("engine_metrics_port: must be a port 1–65535");
    expect(() => resolve(["x"], { labels: { [METRICS_PORT_LABEL]: "80; rm" } })).toThrow(`labels[${METRICS_PORT_LABEL}]`);
    expect(() => resolve(["x"], { labels: { [METRICS_URL_LABEL]: "http://8.8.8.8/" } })).toThrow(`labels[${METRICS_URL_LABEL}]`);
    expect(checkMetricsUrl("f", "http://[::1]:9/metrics", own)).toBe("http://[::1]:9/metrics");
    expect(checkMetricsUrl("f", "http://127.3.4.5:9/m", own)).toBe("http://127.3.4.5:9/m");
  });

  it("does not scrape an engine bound to a foreign address", () => {
    expect(resolve(["vllm", "serve", "m", "--host", "192.168.0.1"])).toBe("");
  });
});
