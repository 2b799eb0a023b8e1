import { spawn, type ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { readCmdline } from "../procfs/proc-cmdline.js";

/**
 * Joins every given cgroup.procs file with its own pid, then execs the
 * worker: the worker never runs a single instruction outside its cgroup.
 * Exit 125 = a cgroup could not be joined; 126/127 = exec failed (sh's codes).
 */
export const JOIN_AND_EXEC =
  'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || { echo "apiary: cannot join cgroup $1" >&2; exit 125; }; shift; n=$((n - 1)); done; exec "$@"';

export interface LaunchOptions {
  argv: string[];
  procsFiles: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** File descriptor receiving stdout and stderr. */
  logFd: number;
  /** How long to wait for the exec before giving up on seeing it; default 5000 ms. */
  execTimeoutMs?: number;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export type LaunchResult =
  | { ok: true; child: ChildProcess; pid: number; exit: Promise<ChildExit> }
  | { ok: false; reason: "join" | "exec" | "spawn"; exitCode?: number; message: string };

let hiveCmdline: string | undefined;

/**
 * Starts the worker in its own session and process group (detached) and waits
 * until the wrapper shell has exec'd it, or has failed to. Never throws.
 */
export async function launchInCgroup(options: LaunchOptions): Promise<LaunchResult> {
  hiveCmdline ??= ((await readCmdline(process.pid)) ?? []).join("\0");
  let child: ChildProcess;
  try {
    child = spawn("/bin/sh", ["-c", JOIN_AND_EXEC, "apiary-worker", String(options.procsFiles.length), ...options.procsFiles, ...options.argv], {
      detached: true,
      stdio: ["ignore", options.logFd, options.logFd],
      env: options.env,
      cwd: options.cwd,
    });
  } catch (err) {
    return { ok: false, reason: "spawn", message: String(err) };
  }
  let exited: ChildExit | undefined;
  let spawnError: Error | undefined;
  const exit = new Promise<ChildExit>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
    child.once("error", (err) => {
      spawnError = err;
      if (child.pid === undefined) resolve({ code: null, signal: null });
    });
  });
  const deadline = Date.now() + (options.execTimeoutMs ?? 5000);
  for (;;) {
    if (spawnError && child.pid === undefined) return { ok: false, reason: "spawn", message: spawnError.message };
    if (exited) {
      if (exited.code === 125) return { ok: false, reason: "join", exitCode: 125, message: "could not join the worker's cgroup" };
      if (exited.code === 126 || exited.code === 127) return { ok: false, reason: "exec", exitCode: exited.code, message: "exec failed" };
      // It exec'd and already ended: a started worker whose exit is reported as usual.
      return { ok: true, child, pid: child.pid!, exit };
    }
    const cmdline = child.pid === undefined ? undefined : await readCmdline(child.pid);
    if (cmdline && cmdline.length > 0 && !isWrapper(cmdline) && cmdline.join("\0") !== hiveCmdline) {
      return { ok: true, child, pid: child.pid!, exit };
    }
    if (Date.now() >= deadline) return { ok: true, child, pid: child.pid!, exit };
    await sleep(5);
  }
}

function isWrapper(cmdline: string[]): boolean {
  return cmdline[1] === "-c" && cmdline[2] === JOIN_AND_EXEC;
}
