import { basename } from "node:path";

const LONG_FLAGS = new Set(["--model", "--model-path"]);

/**
 * The model a worker serves, read from its command line; "" when none is named.
 * Recognised, in this order: `--model X`, `--model=X`, `--model-path X`,
 * `--model-path=X`; vLLM's `vllm serve X`; llama.cpp's `-m path/to/model.gguf`
 * (but not Python's `python -m module`). The value is kept as given (a path
 * stays a path): it must match what schedulers ask for, and a rewritten name
 * would not.
 */
export function modelFromArgv(argv: readonly string[]): string {
  return longFlagModel(argv) ?? vllmServeModel(argv) ?? shortFlagModel(argv) ?? "";
}

function isValue(arg: string | undefined): arg is string {
  return arg !== undefined && arg !== "" && !arg.startsWith("-");
}

function longFlagModel(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (LONG_FLAGS.has(arg) && isValue(argv[i + 1])) return argv[i + 1];
    const eq = arg.indexOf("=");
    if (eq > 0 && LONG_FLAGS.has(arg.slice(0, eq)) && arg.length > eq + 1) return arg.slice(eq + 1);
  }
  return undefined;
}

function shortFlagModel(argv: readonly string[]): string | undefined {
  for (let i = 1; i < argv.length; i++) {
    const pythonModule = i === 1 && /^python[\d.]*$/.test(basename(argv[0]));
    if (argv[i] === "-m" && !pythonModule && isValue(argv[i + 1])) return argv[i + 1];
  }
  return undefined;
}

/** `vllm serve X …` (also `…/bin/vllm serve X`, `python -m vllm.… serve X`). */
function vllmServeModel(argv: readonly string[]): string | undefined {
  const vllmAt = argv.findIndex((arg) => basename(arg) === "vllm" || arg.startsWith("vllm."));
  if (vllmAt < 0) return undefined;
  const serveAt = argv.indexOf("serve", vllmAt + 1);
  return serveAt >= 0 && isValue(argv[serveAt + 1]) ? argv[serveAt + 1] : undefined;
}
