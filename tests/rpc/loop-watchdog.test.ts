import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { HealthStatus, OVERALL, ServingStatus } from "../../src/rpc/health.js";
import { startLoopWatchdog } from "../../src/rpc/loop-watchdog.js";

const CHILD = fileURLToPath(new URL("./support/stalled-loop-child.ts", import.meta.url));

function blockLoop(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // a stall: nothing else runs meanwhile
  }
}

describe("event-loop watchdog", () => {
  it("kills a process whose loop never turns again, from its own thread", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD], { env: { ...process.env, EXIT_AFTER_MS: "1000" }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const backstop = setTimeout(() => child.kill("SIGTERM"), 30_000); // only a watchdog that failed reaches it
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("exit", (c, s) => resolve([c, s])));
    clearTimeout(backstop);
    expect(out).toContain("blocking");
    expect(signal).toBe("SIGKILL");
    expect(code).toBeNull();
    expect(err).toContain("event loop stalled, exiting");
  });

  it("marks health NOT_SERVING after a stall and SERVING once the loop turns freely again", async () => {
    const health = new HealthStatus();
    health.setStatus("apiary.v1.QueenService", ServingStatus.SERVING);
    const stalls: number[] = [];
    let recovered!: () => void;
    const recovery = new Promise<void>((resolve) => (recovered = resolve));
    let stalledSeen!: () => void;
    const stall = new Promise<void>((resolve) => (stalledSeen = resolve));
    const watchdog = startLoopWatchdog({
      stallMs: 200,
      beatMs: 20,
      exitAfterMs: 0,
      onStall: (ms) => {
        stalls.push(ms);
        health.setStalled(true);
        stalledSeen();
      },
      onRecover: () => {
        health.setStalled(false);
        recovered();
      },
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 40)); // let the first beat run
      blockLoop(500);
      await stall;
      expect(stalls[0]).toBeGreaterThanOrEqual(200);
      expect(health.get(OVERALL)).toBe(ServingStatus.NOT_SERVING);
      expect(health.entries().every(([, status]) => status === ServingStatus.NOT_SERVING)).toBe(true);
      await recovery;
      expect(health.get(OVERALL)).toBe(ServingStatus.SERVING);
      expect(health.get("apiary.v1.QueenService")).toBe(ServingStatus.SERVING);
    } finally {
      watchdog.stop();
    }
  });
});
