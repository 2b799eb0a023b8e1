import { describe, expect, it } from "vitest";
import { modelFromArgv } from "../../../src/hive/workers/model-from-argv.js";
import { generateWorkerId } from "../../../src/hive/workers/worker-id.js";

describe("modelFromArgv", () => {
  it.each([
    [["server", "--model", "llama-3-8b"], "llama-3-8b"],
    [["server", "--model=qwen2.5-7b"], "qwen2.5-7b"],
    [["llama-server", "-m", "models/llama-3-8b.Q4_K_M.gguf", "--port", "8080"], "models/llama-3-8b.Q4_K_M.gguf"],
    [["server", "--model-path", "/m/mistral"], "/m/mistral"],
    [["server", "--model-path=/m/mistral"], "/m/mistral"],
    [["vllm", "serve", "meta-llama/Llama-3-8B", "--tensor-parallel-size", "2"], "meta-llama/Llama-3-8B"],
    [["/opt/venv/bin/vllm", "serve", "Qwen/Qwen2-7B"], "Qwen/Qwen2-7B"],
    [["python", "-m", "vllm.entrypoints.openai.api_server", "--model", "facebook/opt-125m"], "facebook/opt-125m"],
    [["python3", "-m", "vllm.entrypoints.openai.api_server", "-m", "x"], "x"],
  ])("%j → %s", (argv, model) => {
    expect(modelFromArgv(argv)).toBe(model);
  });

  it.each([[["server"]], [["server", "--model"]], [["server", "--model", "--port"]], [["server", "--model="]], [["vllm", "serve"]], [["x", "serve", "y"]]])(
    "%j → no model",
    (argv) => {
      expect(modelFromArgv(argv)).toBe("");
    },
  );
});

describe("generateWorkerId", () => {
  it("makes a valid id from the model", () => {
    const id = generateWorkerId("models/Llama 3 8B.Q4.gguf");
    expect(id).toMatch(/^w-llama-3-8b.q4-[0-9a-f]{4}$/);
    expect(generateWorkerId("")).toMatch(/^w-worker-[0-9a-f]{4}$/);
    expect(generateWorkerId("x".repeat(500)).length).toBeLessThanOrEqual(128);
  });
});
