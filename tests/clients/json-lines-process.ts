import { spawn, type ChildProcess } from "node:child_process";

/** A parsed JSON line: each client prints what it saw in the shape of its own language. */
export type JsonLine = Record<string, any>;

/** A child process that prints one JSON object per line (the Python and Go examples), with its lines parsed as they come. */
export class JsonLinesProcess {
  readonly lines: JsonLine[] = [];
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private partial = "";
  private waiters: { match: (line: JsonLine) => boolean; resolve: (line: JsonLine) => void }[] = [];

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    this.exited = new Promise((resolve) => this.child.once("exit", (code, signal) => resolve({ code, signal })));
    this.child.stdout!.setEncoding("utf8").on("data", (d: string) => this.onData(d));
    this.child.stderr!.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
  }

  /** Resolves with the first line (past or future) the predicate accepts; rejects on exit or after timeoutMs. */
  waitForLine(match: (line: JsonLine) => boolean, what: string, timeoutMs = 20_000): Promise<JsonLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${what}: ${why}\nlast lines: ${JSON.stringify(this.lines.slice(-3))}\nstderr: ${this.stderr.slice(-2000)}`));
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      const waiter = { match, resolve: (line: JsonLine) => (clearTimeout(timer), resolve(line)) };
      this.waiters.push(waiter);
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        if (this.waiters.includes(waiter)) fail(`exited (${code ?? signal})`);
      });
    });
  }

  /** Waits for the process to end by itself; returns its exit code, or throws after timeoutMs. */
  async finished(timeoutMs = 20_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`)), timeoutMs);
    });
    try {
      return (await Promise.race([this.exited, timeout])).code;
    } finally {
      clearTimeout(timer);
    }
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }

  private onData(data: string): void {
    const parts = (this.partial + data).split("\n");
    this.partial = parts.pop()!;
    for (const text of parts) {
      if (!text.trim()) continue;
      let line: JsonLine;
      try {
        line = JSON.parse(text) as JsonLine;
      } catch {
        line = { unparsed: text };
      }
      this.lines.push(line);
      for (const w of [...this.waiters]) {
        if (w.match(line)) {
          this.waiters = this.waiters.filter((x) => x !== w);
          w.resolve(line);
        }
      }
    }
  }
}
