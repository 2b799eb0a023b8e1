import { Code, ConnectError } from "@connectrpc/connect";
import { globToRegExp } from "./program-allow-list.js";

/**
 * Request variables a hive admits when --allow-env is not given: what model engines read for
 * caches, tokens, threading and collectives. None of these makes a loader, shell or interpreter
 * run code of the caller's choosing (those are refused below even when a glob admits them).
 */
export const DEFAULT_ALLOW_ENV = ["HF_*", "HUGGING_FACE_*", "TRANSFORMERS_*", "VLLM_*", "SGLANG_*", "CUDA_*", "NCCL_*", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM", "TZ"];

/** Variables the hive sets itself; a request may not name them. */
export const HIVE_SET_ENV = ["CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "PATH", "HOME", "LANG"];

/**
 * Variables that make the dynamic loader, a shell or an interpreter load or run code: glibc's
 * unsecvars (ld.so's list for setuid programs), sudo's env_reset "bad" list, and the start-up
 * hooks of the interpreters engines are written in. Refused whatever --allow-env says.
 */
const REFUSED_ENV: RegExp[] = [
  /^LD_/, // LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH, LD_DEBUG_OUTPUT, LD_PROFILE…
  /^(GCONV_PATH|GETCONF_DIR|HOSTALIASES|LOCALDOMAIN|LOCPATH|MALLOC_TRACE|MALLOC_.*|NIS_PATH|NLSPATH|RESOLV_HOST_CONF|RES_OPTIONS|TMPDIR|TZDIR|GLIBC_TUNABLES)$/,
  /^(BASH_ENV|ENV|SHELLOPTS|BASHOPTS|PS4|IFS|CDPATH|GLOBIGNORE|PROMPT_COMMAND|SHELL)$/,
  /^BASH_FUNC_/,
  /%%$/, // exported bash functions under any name
  /^PYTHON/, // PYTHONSTARTUP, PYTHONPATH, PYTHONWARNINGS, PYTHONINSPECT, PYTHONHOME…
  /^(BROWSER|EDITOR|VISUAL|PAGER|TERMINFO|TERMCAP|TERMPATH)$/,
  /^(NODE_OPTIONS|NODE_PATH|NODE_REPL_EXTERNAL_MODULE)$/,
  /^PERL/, // PERL5OPT, PERL5LIB, PERLLIB, PERL5DB
  /^(RUBYOPT|RUBYLIB|GEM_PATH|GEM_HOME)$/,
  /^(JAVA_TOOL_OPTIONS|_JAVA_OPTIONS|JDK_JAVA_OPTIONS|CLASSPATH)$/,
  /^(TORCHINDUCTOR_|TRITON_CACHE_DIR)/, // compile caches loaded and run as code
  /^(CUDA_INJECTION64_PATH|CUDA_INJECTION32_PATH|NCCL_NET_PLUGIN|NCCL_TUNER_PLUGIN|NCCL_PROFILER_PLUGIN)$/, // libraries the CUDA driver and NCCL dlopen
  /^(GIT_|SSH_|KRB5|OPENSSL_CONF|OPENSSL_ENGINES|SSL_CERT_FILE|SSL_CERT_DIR|CURL_CA_BUNDLE|REQUESTS_CA_BUNDLE)/,
];

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

export class EnvAllowList {
  private readonly patterns: RegExp[];

  constructor(readonly globs: string[] = DEFAULT_ALLOW_ENV) {
    this.patterns = globs.map((g) => {
      if (!/^[A-Za-z0-9_*?%]+$/.test(g)) throw new RangeError(`allowed env ${JSON.stringify(g)}: must be a variable name or a glob of one (letters, digits, _, * and ?)`);
      return globToRegExp(g);
    });
  }

  /** Throws INVALID_ARGUMENT naming `env[NAME]` for the first variable the hive does not pass on. */
  check(env: Record<string, string>): void {
    for (const name of Object.keys(env)) {
      if (HIVE_SET_ENV.includes(name)) throw invalid(`env[${name}]: set by the hive; a request may not set it`);
      if (REFUSED_ENV.some((re) => re.test(name))) throw invalid(`env[${name}]: refused: it makes a loader, shell or interpreter run code`);
      if (!this.patterns.some((re) => re.test(name))) throw invalid(`env[${name}]: not admitted by this hive's --allow-env (${this.globs.join(", ")})`);
    }
  }
}

/** The fixed environment every worker (and its /bin/sh wrapper) starts from. */
export function baseWorkerEnv(): Record<string, string> {
  return {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: process.env.HOME ?? "/root",
    LANG: process.env.LANG ?? "C.UTF-8",
  };
}

/** Base + admitted request variables + what the hive sets (last, so nothing overrides it). */
export function workerEnv(requestEnv: Record<string, string>, gpuUuids: string[]): Record<string, string> {
  const env: Record<string, string> = { ...baseWorkerEnv(), ...requestEnv };
  if (gpuUuids.length > 0) env.CUDA_VISIBLE_DEVICES = gpuUuids.join(",");
  return env;
}
