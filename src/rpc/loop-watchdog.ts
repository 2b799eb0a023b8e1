import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";

export interface LoopWatchdogOptions {
  /** A loop that has not turned for this long is stalled: onStall, then onRecover once it turns again. Default 2 s. */
  stallMs?: number;
  /** A loop stalled this long is stuck: the watchdog thread kills the process (SIGKILL) so a supervisor restarts it. 0 = never. Default 30 s. */
  exitAfterMs?: number;
  /** How often the loop proves it turns. Default 250 ms. */
  beatMs?: number;
  onStall?: (stalledMs: number) => void;
  onRecover?: () => void;
}

export const DEFAULT_STALL_MS = 2_000;
export const DEFAULT_STALL_EXIT_MS = 30_000;

// Runs on its own thread, so it keeps its clock when the main loop is stuck (a blocked loop
// cannot run its own timers, signal handlers or health answers). No execArgv: a loader such as
// tsx would make the thread's start wait on the main thread.
const WATCHER = `
const { workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const beats = new Int32Array(workerData.shared, 0, 1);
const deadline = new BigInt64Array(workerData.shared, 8, 1);
let seen = Atomics.load(beats, 0);
function exit(msg, fields) {
  writeSync(2, JSON.stringify({ level: 60, msg, ...fields }) + "\\n");
  process.kill(process.pid, "SIGKILL");
}
let since = Date.now();
setInterval(() => {
  const now = Date.now();
  const shutdownBy = Number(Atomics.load(deadline, 0));
  if (shutdownBy > 0 && now >= shutdownBy) exit("shutdown deadline passed, exiting", { lateMs: now - shutdownBy });
  const beat = Atomics.load(beats, 0);
  if (beat !== seen) { seen = beat; since = now; return; }
  if (workerData.exitAfterMs > 0 && now - since >= workerData.exitAfterMs) exit("event loop stalled, exiting", { stalledMs: now - since });
}, Math.min(250, workerData.exitAfterMs || 250));
`;

export interface LoopWatchdog {
  /**
   * The process must be gone `ms` from now: the watchdog's thread kills it (SIGKILL) then, even
   * when the main loop is wedged and its own shutdown timer can never fire. Armed at SIGTERM.
   */
  armShutdownDeadline(ms: number): void;
  stop(): void;
}

/** Watches that the event loop keeps turning; stop() ends the watch (and its thread). */
export function startLoopWatchdog(opts: LoopWatchdogOptions = {}): LoopWatchdog {
  const stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
  const exitAfterMs = opts.exitAfterMs ?? DEFAULT_STALL_EXIT_MS;
  const beatMs = opts.beatMs ?? 250;
  const shared = new SharedArrayBuffer(16);
  const beats = new Int32Array(shared, 0, 1);
  const deadline = new BigInt64Array(shared, 8, 1);
  let thread: Worker | undefined;
  const startThread = () => {
    thread ??= new Worker(WATCHER, { eval: true, execArgv: [], workerData: { shared, exitAfterMs } });
    thread.unref();
  };
  if (exitAfterMs > 0) startThread();
  let last = performance.now();
  let stalled = false;
  let recoverAt = 0;
  const timer = setInterval(() => {
    Atomics.add(beats, 0, 1);
    const now = performance.now();
    const gap = now - last;
    last = now;
    if (gap >= stallMs) {
      stalled = true;
      recoverAt = now + stallMs;
      opts.onStall?.(Math.round(gap));
    } else if (stalled && now >= recoverAt) {
      stalled = false;
      opts.onRecover?.();
    }
  }, beatMs);
  timer.unref();
  return {
    armShutdownDeadline(ms) {
      Atomics.store(deadline, 0, BigInt(Date.now() + Math.max(0, ms)));
      startThread();
    },
    stop() {
      clearInterval(timer);
      void thread?.terminate();
    },
  };
}
