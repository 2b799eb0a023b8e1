import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";

const CHILD = fileURLToPath(new URL("../rpc/support/signal-child.ts", import.meta.url));
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

async function startChild(env: Record<string, string>): Promise<ChildProcess> {
  // Plain node with the tsx loader: the tsx CLI relays the signals itself and rewrites the exit code.
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`child exited early with ${code}`)));
  });
  return child;
}

async function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, "exit")) as [number | null];
  return code;
}

describe("onShutdownSignals", () => {
  it.each(["SIGTERM", "SIGINT"] as const)("runs the handler on %s and exits 0", async (signal) => {
    const child = await startChild({ SHUTDOWN_MODE: "ok" });
    child.kill(signal);
    expect(await exitCode(child)).toBe(0);
  });

  it("exits 1 when the handler outlasts the timeout", async () => {
    const child = await startChild({ SHUTDOWN_MODE: "hang", SHUTDOWN_TIMEOUT_MS: "300" });
    child.kill("SIGTERM");
    expect(await exitCode(child)).toBe(1);
  });

  it("exits at once with 1 on a second signal", async () => {
    const child = await startChild({ SHUTDOWN_MODE: "hang", SHUTDOWN_TIMEOUT_MS: "60000" });
    child.kill("SIGTERM");
    child.kill("SIGINT");
    expect(await exitCode(child)).toBe(1);
  });
});
