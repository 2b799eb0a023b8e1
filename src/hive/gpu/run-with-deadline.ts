import { spawn, type ChildProcess } from "node:child_process";
import { performance } from "node:perf_hooks";

export type RunKind = "ok" | "exit-error" | "timeout" | "not-found" | "spawn-error";

export interface RunResult {
  kind: RunKind;
  stdout: string;
  stderr: string;
  /** Exit code of the command's own process, when it exited by itself. */
  exitCode?: number;
  /** Signal that ended the command's own process (e.g. "SIGKILL" after a timeout). */
  signal?: string;
  durationMs: number;
  /** Process id of the command, which is also its process group id. */
  pid?: number;
  /** True when stdout or stderr was longer than maxOutputBytes and was cut. */
  truncated?: boolean;
  /** Why the spawn failed (spawn-error / not-found). */
  errorMessage?: string;
}

export interface RunOptions {
  /** Hard deadline from spawn; at the deadline the whole process group gets SIGTERM. */
  deadlineMs: number;
  /** Time between SIGTERM and SIGKILL to the group; the result is settled by then at the latest. */
  killGraceMs?: number;
  /** Per stream cap; output beyond it is read and dropped so the command never blocks. */
  maxOutputBytes?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const DEFAULT_KILL_GRACE_MS = 500;
const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

class BoundedSink {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    const room = this.max - this.size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Runs `command args` in its own process group with a hard deadline. Never throws.
 * At the deadline the group gets SIGTERM, then SIGKILL after the grace; the promise
 * settles by deadline + grace even when a grandchild keeps stdout open.
 */
export function runWithDeadline(command: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const grace = opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const out = new BoundedSink(max);
  const err = new BoundedSink(max);

  return new Promise<RunResult>((resolve) => {
    let child: ChildProcess;
    let settled = false;
    let timedOut = false;
    let exited = false;
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    let openStreams = 2;
    let deadlineTimer: NodeJS.Timeout | undefined;
    let graceTimer: NodeJS.Timeout | undefined;

    const finish = (result: Omit<RunResult, "stdout" | "stderr" | "durationMs">): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadlineTimer);
      clearTimeout(graceTimer);
      child?.stdout?.destroy();
      child?.stderr?.destroy();
      const truncated = out.truncated || err.truncated;
      resolve({
        ...result,
        stdout: out.text(),
        stderr: err.text(),
        durationMs: performance.now() - started,
        ...(child?.pid !== undefined ? { pid: child.pid } : {}),
        ...(truncated ? { truncated } : {}),
      });
    };

    const exitFields = (): Pick<RunResult, "exitCode" | "signal"> => ({
      ...(exitCode !== null ? { exitCode } : {}),
      ...(exitSignal !== null ? { signal: exitSignal } : {}),
    });

    const maybeDone = (): void => {
      if (!exited || openStreams > 0) return;
      if (timedOut) {
        // Members of the group that closed their stdout may still run: make sure they go.
        signalGroup(child.pid, "SIGKILL");
        finish({ kind: "timeout", ...exitFields() });
        return;
      }
      finish({ kind: exitCode === 0 ? "ok" : "exit-error", ...exitFields() });
    };

    try {
      child = spawn(command, [...args], {
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: opts.env,
        cwd: opts.cwd,
      });
    } catch (e) {
      finish({ kind: "spawn-error", errorMessage: (e as Error).message });
      return;
    }

    child.on("error", (e: NodeJS.ErrnoException) => {
      // With a pid the process exists and 'exit' reports it; without one the spawn failed.
      if (child.pid !== undefined) return;
      const kind: RunKind = e.code === "ENOENT" ? "not-found" : "spawn-error";
      finish({ kind, errorMessage: e.message });
    });
    child.on("exit", (code, signal) => {
      exited = true;
      exitCode = code;
      exitSignal = signal;
      maybeDone();
    });
    for (const [stream, sink] of [
      [child.stdout, out],
      [child.stderr, err],
    ] as const) {
      if (!stream) {
        openStreams--;
        continue;
      }
      stream.on("data", (chunk: Buffer) => sink.push(chunk));
      stream.once("close", () => {
        openStreams--;
        maybeDone();
      });
      stream.on("error", () => undefined);
    }

    deadlineTimer = setTimeout(() => {
      timedOut = true;
      signalGroup(child.pid, "SIGTERM");
      graceTimer = setTimeout(() => {
        signalGroup(child.pid, "SIGKILL");
        finish({ kind: "timeout", ...exitFields(), ...(exited ? {} : { signal: "SIGKILL" }) });
      }, grace);
    }, opts.deadlineMs);
  });
}
