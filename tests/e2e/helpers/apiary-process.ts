import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const APIARY_BIN = fileURLToPath(new URL("../../../bin/apiary.mjs", import.meta.url));

/** An `apiary` command running as a real child process, with its output captured. */
export class ApiaryProcess {
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { pattern: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];

  private constructor(readonly child: ChildProcess, readonly args: string[]) {
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    child.stdout!.setEncoding("utf8").on("data", (d: string) => this.onOutput("stdout", d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => this.onOutput("stderr", d));
  }

  static start(args: string[], env: NodeJS.ProcessEnv = {}): ApiaryProcess {
    const child = spawn(process.execPath, [APIARY_BIN, ...args], {
      env: { ...process.env, APIARY_LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    return new ApiaryProcess(child, args);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the first match of pattern in stdout+stderr (past or future); rejects if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const already = (this.stdout + this.stderr).match(pattern);
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      const waiter = { pattern, resolve: (m: RegExpMatchArray) => { clearTimeout(timer); resolve(m); } };
      const fail = (why: string) => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`apiary ${this.args.join(" ")}: waiting for ${pattern}: ${why}\n${this.stderr.slice(-2000)}`));
      };
      this.waiters.push(waiter);
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        if (this.waiters.includes(waiter)) fail(`exited (${code ?? signal})`);
      });
    });
  }

  /** Waits for the "listening on URL" line and returns the URL. */
  async listeningUrl(what: "queen" | "hive"): Promise<string> {
    const m = await this.waitFor(new RegExp(`apiary ${what} listening on (http://\\S+)`));
    return m[1];
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL if still running after graceMs; resolves when it has exited. */
  async stop(graceMs = 10_000) {
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private onOutput(stream: "stdout" | "stderr", data: string) {
    this[stream] += data;
    const all = this.stdout + this.stderr;
    for (const w of [...this.waiters]) {
      const m = all.match(w.pattern);
      if (m) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(m);
      }
    }
  }
}

/** Runs an `apiary` client command to completion. */
export async function runApiary(args: string[], env: NodeJS.ProcessEnv = {}) {
  const p = ApiaryProcess.start(args, env);
  const { code } = await p.exited;
  return { code, stdout: p.stdout, stderr: p.stderr };
}
