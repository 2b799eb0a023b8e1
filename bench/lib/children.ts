import { fork, type ChildProcess } from "node:child_process";
import { isAbsolute } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Every process the bench starts, so that all of them are ended on the way out, whatever the
 * way out is (normal end, a thrown error, Ctrl-C, SIGTERM). Children also exit on their own when
 * their IPC channel to the bench closes (see exitWithParent).
 */
const live = new Set<ChildProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      for (const child of live) child.kill("SIGKILL");
      process.exit(130);
    });
  }
}

/** Registers a child started elsewhere (e.g. by spawn) for cleanup. */
export function track(child: ChildProcess): ChildProcess {
  hookExit();
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

export interface ForkOptions {
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  env?: NodeJS.ProcessEnv;
  /** Pipe the child's stdout (to parse its log); default: inherit nothing (ignored). */
  pipeStdout?: boolean;
}

/** Forks a TypeScript module of bench/ (path relative to bench/, or absolute) with tsx's loader and an IPC channel. */
export function forkBench(modulePath: string, args: string[] = [], opts: ForkOptions = {}): ChildProcess {
  const file = isAbsolute(modulePath) ? modulePath : fileURLToPath(new URL(`../${modulePath}`, import.meta.url));
  const child = fork(file, args, {
    execArgv: ["--import", "tsx", ...(opts.nodeFlags ?? [])],
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", opts.pipeStdout ? "pipe" : "ignore", "inherit", "ipc"],
  });
  return track(child);
}

/** Ends a child: SIGTERM, then SIGKILL after graceMs; resolves once it has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** In a forked child: exit when the bench goes away (its IPC channel closes). */
export function exitWithParent(cleanup?: () => void): void {
  process.once("disconnect", () => {
    try {
      cleanup?.();
    } finally {
      process.exit(0);
    }
  });
}

/** A request/reply conversation with a forked child over IPC: `{ id, cmd, ...args }` → `{ id, ...reply }`. */
export class ChildRpc {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();

  constructor(readonly child: ChildProcess) {
    child.on("message", (msg: Record<string, unknown>) => {
      const id = typeof msg.id === "number" ? msg.id : undefined;
      const entry = id !== undefined ? this.waiting.get(id) : undefined;
      if (!entry) return;
      this.waiting.delete(id!);
      if (typeof msg.error === "string") entry.reject(new Error(msg.error));
      else entry.resolve(msg);
    });
    child.once("exit", (code, signal) => {
      for (const entry of this.waiting.values()) entry.reject(new Error(`child exited (code ${code}, signal ${signal})`));
      this.waiting.clear();
    });
  }

  /** Sends a command and waits for its reply, at most timeoutMs. */
  call<T = Record<string, unknown>>(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`child did not answer ${cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (!this.child.connected) {
        this.waiting.get(id)?.reject(new Error(`child is gone; cannot send ${cmd}`));
        this.waiting.delete(id);
        return;
      }
      this.child.send({ id, cmd, ...args }, (err) => {
        if (!err) return;
        this.waiting.get(id)?.reject(err);
        this.waiting.delete(id);
      });
    });
  }

  /** Waits for the first message of the given type (e.g. "ready"), at most timeoutMs. */
  static waitFor<T = Record<string, unknown>>(child: ChildProcess, type: string, timeoutMs = 60_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`child sent no ${type} within ${timeoutMs} ms`)), timeoutMs);
      const onMessage = (msg: Record<string, unknown>) => {
        if (msg.type === type) done(undefined, msg as T);
      };
      const onExit = (code: number | null, signal: string | null) => done(new Error(`child exited before ${type} (code ${code}, signal ${signal})`));
      function done(err?: Error, value?: T) {
        clearTimeout(timer);
        child.off("message", onMessage);
        child.off("exit", onExit);
        if (err) reject(err);
        else resolve(value!);
      }
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
  }
}

/** In a forked child: answers ChildRpc commands with the given handlers. */
export function serveChildRpc(handlers: Record<string, (args: Record<string, unknown>) => unknown | Promise<unknown>>): void {
  process.on("message", async (msg: Record<string, unknown>) => {
    const { id, cmd } = msg as { id: number; cmd: string };
    const handler = handlers[cmd];
    try {
      if (!handler) throw new Error(`unknown command ${cmd}`);
      const reply = (await handler(msg)) ?? {};
      process.send?.({ id, ...(reply as object) });
    } catch (err) {
      process.send?.({ id, error: err instanceof Error ? err.message : String(err) });
    }
  });
}
