import { realpathSync } from "node:fs";
import { realpath } from "node:fs/promises";
import { basename, isAbsolute, resolve } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Programs that run code given on their command line or read from a file of the caller's choosing:
 * shells, interpreters, and launchers that exec their arguments. Matched on the basename of the real
 * path, so a venv's `bin/python` (a symlink to /usr/bin/python3.11) is caught like the target.
 */
const INTERPRETER = new RegExp(
  "^(?:" +
    [
      "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox", "toybox",
      "python[0-9.]*", "pypy[0-9.]*", "ipython[0-9.]*", "node(?:js)?", "deno", "bun", "perl[0-9.]*", "ruby[0-9.]*", "irb",
      "php[0-9.]*", "lua[0-9.]*", "luajit", "tclsh[0-9.]*", "wish[0-9.]*", "expect", "java", "jshell", "R", "Rscript", "julia",
      "g?awk", "mawk", "nawk", "env", "xargs", "find", "nohup", "nice", "ionice", "setsid", "stdbuf", "timeout", "chroot",
      "taskset", "numactl", "sudo", "su", "doas", "runuser", "script", "strace", "ltrace", "gdb", "valgrind", "uv", "uvx", "torchrun",
    ].join("|") +
    ")$",
);

export function isInterpreter(realPath: string): boolean {
  return INTERPRETER.test(basename(realPath));
}

interface Entry {
  text: string;
  /** The program (a glob), or for an interpreter entry its exact real path. */
  program: RegExp;
  /** Interpreter entries only: the script argv[1] must name (exact real path or glob). */
  script?: RegExp;
}

/**
 * Absolute paths or globs (`*` and `?` within one path segment, `**` across segments) of the
 * programs SpawnWorker may start, matched on the program's real path (symlinks resolved) only.
 * An interpreter or shell (isInterpreter) is never admitted by a plain entry, glob or not: only by
 * an entry `INTERPRETER SCRIPT` ("/usr/bin/python3 /opt/app/serve.py"), where the interpreter is an
 * exact path and argv[1] must be that script (its real path; the script may be a glob).
 */
export class ProgramAllowList {
  private readonly entries: Entry[];

  constructor(patterns: string[]) {
    this.entries = patterns.map((text) => parseEntry(text));
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * Throws PERMISSION_DENIED naming the program unless `realPath` (the real path of the program
   * exec will run) is admitted with `argv` (argv[1] is the script of an interpreter), in `cwd`.
   */
  async check(realPath: string, argv: string[], cwd: string): Promise<void> {
    const shown = argv[0] === realPath ? realPath : `${argv[0]} (${realPath})`;
    if (!isInterpreter(realPath)) {
      if (this.entries.some((e) => e.script === undefined && e.program.test(realPath))) return;
      throw denied(`argv[0]: program ${shown} is not in this hive's allow-list (--allow-program)`);
    }
    const withScript = this.entries.filter((e) => e.script !== undefined && e.program.test(realPath));
    if (withScript.length === 0) {
      throw denied(`argv[0]: program ${shown} is an interpreter or shell; it is admitted only as "INTERPRETER SCRIPT" in --allow-program, never by a glob`);
    }
    const script = argv[1];
    const scriptReal = script === undefined || script.startsWith("-") ? undefined : await realpath(resolve(cwd, script)).catch(() => undefined);
    if (scriptReal !== undefined && withScript.some((e) => e.script!.test(scriptReal))) return;
    throw denied(`argv[1]: ${shown} may run only the script(s) --allow-program names for it, got ${JSON.stringify(script ?? "")}`);
  }
}

function parseEntry(text: string): Entry {
  const parts = text.trim().split(/\s+/);
  for (const p of parts) if (!p.startsWith("/")) throw new RangeError(`allowed program ${JSON.stringify(text)}: must be an absolute path or glob`);
  if (parts.length === 1) return { text, program: globToRegExp(parts[0]) };
  if (parts.length > 2) throw new RangeError(`allowed program ${JSON.stringify(text)}: expected PATH|GLOB or "INTERPRETER SCRIPT"`);
  if (/[*?]/.test(parts[0])) throw new RangeError(`allowed program ${JSON.stringify(text)}: an interpreter must be named exactly, not by a glob`);
  // The interpreter as exec will find it: its real path (a venv's python is a symlink).
  return { text, program: exactly(realOrSelf(parts[0])), script: /[*?]/.test(parts[1]) ? globToRegExp(parts[1]) : exactly(realOrSelf(parts[1])) };
}

function realOrSelf(path: string): string {
  try {
    return isAbsolute(path) ? realpathSync(path) : path;
  } catch {
    return path;
  }
}

function exactly(path: string): RegExp {
  return new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
}

function denied(message: string): ConnectError {
  return new ConnectError(message, Code.PermissionDenied);
}

export function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      out += ".*";
      i++;
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else out += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}
