import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, utimesSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { distIsStale, buildDist } from "../../scripts/build.mjs";
import { repoRoot } from "../hive/hive-test-helpers.js";

const run = promisify(execFile);
const NPM = { timeout: 240_000, maxBuffer: 16 << 20, env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" } };

describe("apiary as a package", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "apiary-pack-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("packs into a tarball of built JavaScript that installs into a clean prefix and runs", async () => {
    const packed = await run("npm", ["pack", "--json", "--pack-destination", dir], { ...NPM, cwd: repoRoot });
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
    const files = info.files.map((f) => f.path);
    expect(files).toContain("dist/apiary.mjs");
    expect(files).toContain("examples/demo-worker/demo-worker.mjs");
    expect(files).toContain("deploy/systemd/apiary-hive-exec");
    expect(files).toContain("dist/client.mjs");
    expect(files).toContain("dist/types/src/client/index.d.ts");
    // Type declarations for apiary/client, but no TypeScript sources.
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);

    const prefix = path.join(dir, "prefix");
    await run("npm", ["install", "--global", "--prefix", prefix, "--prefer-offline", "--omit=dev", path.join(dir, info.filename)], { ...NPM, cwd: dir });
    const bin = path.join(prefix, "bin", "apiary");
    const help = await run(bin, ["--help"], { cwd: dir, timeout: 30_000 });
    expect(help.stdout).toMatch(/^ {2}workers\s/m);
    expect((await run(bin, ["--version"], { cwd: dir, timeout: 30_000 })).stdout).toMatch(/^apiary \d+\.\d+\.\d+/);

    // The installed copy has no TypeScript loader and no sources: starting a queen proves the
    // bundle carries everything its servers need.
    const queen = spawn(bin, ["queen", "--port", "0"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    try {
      const listening = await new Promise<string>((resolve, reject) => {
        let out = "";
        const onData = (d: Buffer) => {
          out += d.toString();
          const m = out.match(/apiary queen listening on (http:\/\/\S+)/);
          if (m) resolve(m[1]);
        };
        queen.stdout.on("data", onData);
        queen.stderr.on("data", onData);
        queen.once("exit", (code) => reject(new Error(`queen exited (${code}):\n${out}`)));
      });
      const hives = await run(bin, ["hives", "--queen", listening], { cwd: dir, timeout: 30_000 });
      expect(hives.stdout).toMatch(/^HIVE\s+HEALTH/m);
    } finally {
      queen.kill("SIGKILL");
    }
  });

  it("rebuilds the bundle of a source checkout when a source it was built from changes", async () => {
    if (distIsStale()) await buildDist();
    expect(distIsStale()).toBe(false);
    const source = path.join(repoRoot, "src", "common", "version.ts");
    const now = new Date();
    utimesSync(source, now, now);
    expect(distIsStale()).toBe(true);
    const started = await run(process.execPath, [path.join(repoRoot, "bin", "apiary.mjs"), "--version"], { cwd: dir, timeout: 60_000 });
    expect(started.stdout).toMatch(/^apiary /);
    expect(distIsStale()).toBe(false);
  });
});
