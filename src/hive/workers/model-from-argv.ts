import { basename } from "node:path";

const MODEL_FLAGS = new Set(["--model", "-m", "--model-path"]);

/**
 * The model a worker serves, read from its command line; "" when none is named.
 * Recognised: `--model X`, `--model=X`, `-m X`, `--model-path X`, `--model-path=X`
 * (llama.cpp's `-m path/to/model.gguf` included), and vLLM's `vllm serve X`.
 * The value is kept as given (a path stays a path): it must match what
 * schedulers ask for, and a rewritten name would not.
 */
export function modelFromArgv(argv: readonly string[]): string {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (MODEL_FLAGS.has(arg) && i + 1 < argv.length && argv[i + 1] !== "" && !argv[i + 1].startsWith("-")) return argv[i + 1];
    const eq = arg.indexOf("=");
    if (eq > 0 && MODEL_FLAGS.has(arg.slice(0, eq)) && arg.length > eq + 1) return arg.slice(eq + 1);
  }
  const serve = vllmServeModel(argv);
  return serve ?? "";
}

/** `vllm serve X …` (also `python -m vllm.scripts serve X`, `…/bin/vllm serve X`). */
function vllmServeModel(argv: readonly string[]): string | undefined {
  const vllmAt = argv.findIndex((arg) => basename(arg) === "vllm" || arg.startsWith("vllm."));
  if (vllmAt < 0) return undefined;
  const serveAt = argv.indexOf("serve", vllmAt + 1);
  const candidate = serveAt >= 0 ? argv[serveAt + 1] : undefined;
  return candidate && !candidate.startsWith("-") ? candidate : undefined;
}
