import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const CHILD = fileURLToPath(new URL("../support/cancelled-snapshot-child.ts", import.meta.url));
/** Far above what the child needs (a few seconds on a loaded machine); only a stuck queen reaches it. */
const DEADLINE_MS = 45_000;

describe("Watch streams cancelled during a snapshot larger than the turn budget", () => {
  it("leave the queen answering: the cancelled streams end instead of spinning in microtasks", async () => {
    // In a child process: a queen stuck in microtasks would also stop this test's own timers.
    const child = spawn(process.execPath, ["--import", "tsx", CHILD], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), DEADLINE_MS);
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    clearTimeout(killer);
    expect(out).toContain("answered");
    expect(code).toBe(0);
  }, DEADLINE_MS + 10_000);
});
