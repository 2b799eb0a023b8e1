import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestQueen } from "../queen/helpers/queen-fixture.js";
import type { Queen } from "../../src/queen/queen.js";

const APIARY_BIN = path.resolve(import.meta.dirname, "../../bin/apiary.mjs");

// Preloaded into the CLI process: on exit it prints which of the costly modules were loaded.
const REPORTER = `import { createRequire } from "node:module";
const cache = createRequire(import.meta.url).cache;
process.on("exit", () => {
  const undici = process.moduleLoadList.some((m) => m.includes("undici"));
  const pino = Object.keys(cache).some((f) => f.includes("/node_modules/pino/"));
  process.stderr.write("\\nLOADED " + JSON.stringify({ undici, pino }) + "\\n");
});
`;

async function apiary(preload: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string; loaded: { undici: boolean; pino: boolean } }> {
  const run = promisify(execFile)(process.execPath, ["--import", preload, APIARY_BIN, ...args], { timeout: 60_000 });
  const { code, stdout, stderr } = await run.then(
    (r) => ({ code: 0, ...r }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
  const line = /\nLOADED (.*)\n/.exec(stderr);
  expect(line, stderr).not.toBeNull();
  return { code, stdout, stderr: stderr.replace(line![0], ""), loaded: JSON.parse(line![1]) };
}

/** What `apiary workers` keeps out of its start (each costs tens of milliseconds there). */
describe("apiary workers loads only what it needs", () => {
  let queen: Queen;
  let dir: string;
  let preload: string;

  beforeAll(async () => {
    ({ queen } = await startTestQueen());
    dir = mkdtempSync(path.join(tmpdir(), "apiary-lazy-"));
    preload = path.join(dir, "report-loaded.mjs");
    writeFileSync(preload, REPORTER);
  });
  afterAll(async () => {
    await queen?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("asks the queen without loading undici: its RPC client uses the CLI's Headers (light-headers.ts)", async () => {
    const res = await apiary(preload, ["workers", "--queen", queen.url, "-o", "json"]);
    expect(res.stderr.trim()).toBe("");
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ revision: expect.any(String) });
    expect(res.loaded.undici).toBe(false);
  }, 60_000);

  it("reports an unreachable queen without loading the logger (pino)", async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const res = await apiary(preload, ["workers", "--queen", `127.0.0.1:${closed}`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`apiary: cannot reach the queen at http://127.0.0.1:${closed}`);
    expect(res.loaded).toEqual({ undici: false, pino: false });
  }, 60_000);
});
