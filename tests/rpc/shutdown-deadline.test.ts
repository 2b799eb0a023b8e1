import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const CHILD = fileURLToPath(new URL("./support/wedged-shutdown-child.ts", import.meta.url));
/** Only a process the watchdog failed to end lives this long (the backstop then SIGKILLs it and the test fails on the reason). */
const BACKSTOP_MS = 40_000;

/** Starts the child, sends SIGTERM once it printed `line`, and resolves with how it ended and what it logged. */
async function sigtermWhen(line: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  let out = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
    if (out.includes(`${line}\n`) && !child.killed) child.kill("SIGTERM");
  });
  const backstop = setTimeout(() => child.kill("SIGKILL"), BACKSTOP_MS);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("exit", (c, s) => resolve([c, s])));
  clearTimeout(backstop);
  return { code, signal, err };
}

describe("SIGTERM deadline held outside the main thread", () => {
  it("a shutdown that wedges the loop still ends the process: the watchdog thread kills it at the deadline", async () => {
    // No stall exit: only the shutdown deadline armed at SIGTERM can end it.
    const { signal, err } = await sigtermWhen("ready", { WEDGE: "shutdown", SHUTDOWN_TIMEOUT_MS: "500", STALL_EXIT_AFTER: "0" });
    expect(signal).toBe("SIGKILL");
    expect(err).toContain("shutdown deadline passed, exiting");
  }, BACKSTOP_MS + 10_000);

  it("a SIGTERM that arrives while the loop is already wedged is bounded by --stall-exit-after", async () => {
    const { signal, err } = await sigtermWhen("wedged", { WEDGE: "before", SHUTDOWN_TIMEOUT_MS: "500", STALL_EXIT_AFTER: "2s" });
    expect(signal).toBe("SIGKILL");
    expect(err).toContain("event loop stalled, exiting");
  }, BACKSTOP_MS + 10_000);
});
