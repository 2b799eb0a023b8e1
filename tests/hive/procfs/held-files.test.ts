import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HeldFiles } from "../../../src/hive/procfs/held-files.js";
import { readProcStat } from "../../../src/hive/procfs/proc-stat.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "apiary-held-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function childSleeping(): { pid: number; end: () => Promise<void> } {
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  cleanups.push(() => void child.kill("SIGKILL"));
  return { pid: child.pid!, end: async () => (child.kill("SIGKILL"), await exited) };
}

describe("HeldFiles", () => {
  it("reads what readFileSync reads, the current contents on every read, files larger than its buffer included", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "memory.stat");
    const files = new HeldFiles();
    cleanups.push(() => files.close());
    for (const text of ["cache 1\n", "cache 22\nrss 3\n", "x".repeat(40_000), ""]) {
      writeFileSync(file, text); // rewritten in place, as the kernel regenerates its files
      expect(files.read(file)).toBe(text);
    }
    expect(files.size).toBe(1);
    expect(files.read("/proc/self/stat")).toMatch(new RegExp(`^${process.pid} \\(`));
  });

  it("a kept descriptor of a process that ended reads as readFileSync would: the process is gone", async () => {
    const files = new HeldFiles();
    cleanups.push(() => files.close());
    const child = childSleeping();
    const stat = await readProcStat(child.pid, "/proc", files);
    expect(stat?.pid).toBe(child.pid);
    await child.end();
    expect(await readProcStat(child.pid, "/proc", files)).toBeUndefined();
    expect(() => readFileSync(`/proc/${child.pid}/stat`)).toThrow();
    expect(files.size).toBe(0);
  });

  it("closes at each sweep what was not read since the one before; a missing file throws like readFileSync", async () => {
    const dir = await tempDir();
    const [a, b] = ["a", "b"].map((n) => path.join(dir, n));
    writeFileSync(a, "1");
    writeFileSync(b, "2");
    const files = new HeldFiles();
    cleanups.push(() => files.close());
    files.read(a);
    files.read(b);
    files.sweep();
    expect(files.size).toBe(2);
    files.read(a);
    files.sweep(); // b was not read since the last sweep
    expect(files.size).toBe(1);
    expect(() => files.read(path.join(dir, "missing"))).toThrow(/ENOENT/);
    files.close();
    expect(files.size).toBe(0);
    expect(files.read(b)).toBe("2"); // usable again after close
  });

  it("keeps at most maxOpen descriptors and reads the rest the ordinary way", async () => {
    const dir = await tempDir();
    const paths = Array.from({ length: 5 }, (_, i) => path.join(dir, `f${i}`));
    paths.forEach((p, i) => writeFileSync(p, `v${i}`));
    const files = new HeldFiles(3);
    cleanups.push(() => files.close());
    expect(paths.map((p) => files.read(p))).toEqual(["v0", "v1", "v2", "v3", "v4"]);
    expect(files.size).toBe(3);
  });
});
