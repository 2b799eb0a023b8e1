import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildClient } from "../../scripts/build-client.mjs";
import { repoRoot } from "../hive/hive-test-helpers.js";
import { startTestQueen } from "../queen/helpers/queen-fixture.js";
import { TestHive } from "../queen/helpers/test-hive.js";

const run = promisify(execFile);

/** A consumer project whose node_modules/apiary is this checkout, as `npm install ../apiary` makes it. */
const consumer = mkdtempSync(path.join(os.tmpdir(), "apiary-client-consumer-"));
afterAll(() => rmSync(consumer, { recursive: true, force: true }));

beforeAll(async () => {
  await buildClient();
  mkdirSync(path.join(consumer, "node_modules"));
  symlinkSync(repoRoot, path.join(consumer, "node_modules", "apiary"), "dir");
  writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", type: "module", private: true }));
}, 120_000);

describe("apiary/client as a package entry point", () => {
  it("imports by the package name into plain JavaScript and serves picks from a real queen", async () => {
    const { queen } = await startTestQueen();
    const hive = await TestHive.connect(queen.url, "hp");
    try {
      await hive.reportSynthetic({ workers: 2, gpus: 1, model: () => "m" });
      writeFileSync(
        path.join(consumer, "pick.mjs"),
        `import { Informer, queenClients, PICK_POLICIES, WorkerState } from "apiary/client";
const informer = new Informer({ queens: queenClients(process.argv[2]) });
await informer.synced();
const picked = informer.pick("m", "least-loaded");
console.log(JSON.stringify({ workers: informer.workerCount(), picked: picked.key, running: picked.worker.state === WorkerState.RUNNING, policies: PICK_POLICIES }));
await informer.close();
`,
      );
      const out = await run(process.execPath, ["pick.mjs", queen.url], { cwd: consumer, timeout: 30_000 });
      expect(JSON.parse(out.stdout)).toEqual({ workers: 2, picked: "hp/w0", running: true, policies: ["least-loaded", "most-free-vram", "round-robin"] });
    } finally {
      hive.abort();
      await queen.close();
    }
  }, 60_000);

  it("carries type declarations a TypeScript consumer compiles against (and that reject a wrong policy)", async () => {
    writeFileSync(
      path.join(consumer, "consumer.ts"),
      `import { Informer, type CachedWorker, type InformerChange, type Staleness } from "apiary/client";
export function use(informer: Informer): [CachedWorker | undefined, Staleness, bigint] {
  informer.on("updated", (change: InformerChange) => void change.type);
  // @ts-expect-error not a pick policy
  informer.pick("m", "fastest");
  return [informer.pick("m", (candidates) => candidates[0]), informer.staleness(), informer.find({ model: "m", limit: 3 }).revision];
}
`,
    );
    writeFileSync(
      path.join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", strict: true, noEmit: true, skipLibCheck: true, typeRoots: [path.join(repoRoot, "node_modules", "@types")], types: ["node"] },
        files: ["consumer.ts"],
      }),
    );
    const tsc = path.join(repoRoot, "node_modules", "typescript", "bin", "tsc");
    const result = await run(process.execPath, [tsc, "-p", consumer], { cwd: consumer, timeout: 60_000 }).catch((err: { stdout: string }) => err);
    expect(result.stdout).toBe("");
  }, 60_000);
});
