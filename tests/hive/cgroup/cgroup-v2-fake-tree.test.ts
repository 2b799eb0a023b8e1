import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CgroupV2Driver, parseIoStat } from "../../../src/hive/cgroup/cgroup-v2-driver.js";
import { detectCgroupMode } from "../../../src/hive/cgroup/detect-cgroup-mode.js";
import { NoCgroupDriver } from "../../../src/hive/cgroup/no-cgroup-driver.js";

// The fake tree behaves like cgroup2 for what the driver does: directories and plain files.
describe("cgroup v2 driver on a fake tree", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "apiary-cg2-"));
    writeFileSync(join(root, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n");
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const read = (...parts: string[]): string => readFileSync(join(root, ...parts), "utf8");

  it("is detected as v2 by its cgroup.controllers file", async () => {
    expect(await detectCgroupMode(root)).toBe("v2");
    expect(await detectCgroupMode(join(root, "nope"))).toBe("none");
  });

  it("enables controllers in every parent and writes the limits", async () => {
    const driver = new CgroupV2Driver({ root, parent: "apiary" });
    const created = await driver.create("w1", { memoryMaxBytes: 64n * 1024n * 1024n, cpuMaxMillicores: 500, pidsMax: 64 });
    expect(created.enforced).toBe(true);
    expect(created.errors).toEqual([]);
    expect(created.primaryPath).toBe(join(root, "apiary", "w1"));
    expect(created.procsFiles).toEqual([join(root, "apiary", "w1", "cgroup.procs")]);
    expect(read("cgroup.subtree_control")).toBe("+memory +cpu +pids +io");
    expect(read("apiary", "cgroup.subtree_control")).toBe("+memory +cpu +pids +io");
    expect(read("apiary", "w1", "memory.max")).toBe(String(64 * 1024 * 1024));
    expect(read("apiary", "w1", "cpu.max")).toBe("50000 100000");
    expect(read("apiary", "w1", "pids.max")).toBe("64");
  });

  it("writes no limit file that was not asked for", async () => {
    const created = await new CgroupV2Driver({ root, parent: "apiary" }).create("w2", { cpuMaxMillicores: 2000 });
    expect(created.enforced).toBe(true);
    expect(read("apiary", "w2", "cpu.max")).toBe("200000 100000");
    expect(existsSync(join(root, "apiary", "w2", "memory.max"))).toBe(false);
    expect(existsSync(join(root, "apiary", "w2", "pids.max"))).toBe(false);
  });

  it("reports a limit whose controller is missing as not enforced, with the reason", async () => {
    writeFileSync(join(root, "cgroup.controllers"), "cpu io pids\n");
    const created = await new CgroupV2Driver({ root, parent: "apiary" }).create("w3", { memoryMaxBytes: 1024n * 1024n, pidsMax: 10 });
    expect(created.enforced).toBe(false);
    expect(created.errors).toHaveLength(1);
    expect(created.errors[0].source).toBe("cgroup");
    expect(created.errors[0].message).toMatch(/memory_max_bytes.*memory controller/);
    expect(read("cgroup.subtree_control")).toBe("+cpu +pids +io");
    expect(read("apiary", "w3", "pids.max")).toBe("10");
    expect(existsSync(join(root, "apiary", "w3", "memory.max"))).toBe(false);
  });

  it("reports a limit file that cannot be written as not enforced", async () => {
    mkdirSync(join(root, "apiary", "w4", "memory.max"), { recursive: true }); // a directory: the write fails
    const created = await new CgroupV2Driver({ root, parent: "apiary" }).create("w4", { memoryMaxBytes: 1n << 30n });
    expect(created.enforced).toBe(false);
    expect(created.errors[0].message).toMatch(/memory_max_bytes: not enforced: .*memory.max: EISDIR/);
  });

  it("reads memory, cpu, io, pids and OOM kills from the cgroup's files", async () => {
    const driver = new CgroupV2Driver({ root, parent: "apiary" });
    const handle = await driver.create("w5", {});
    const dir = handle.primaryPath;
    writeFileSync(join(dir, "memory.current"), "123456\n");
    writeFileSync(join(dir, "cpu.stat"), "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n");
    writeFileSync(join(dir, "io.stat"), "8:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n259:0 rbytes=10 wbytes=20 rios=1 wios=1\n");
    writeFileSync(join(dir, "cgroup.procs"), "101\n102\n");
    writeFileSync(join(dir, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    expect(driver.readStats(handle)).toEqual({
      memoryBytes: 123456n,
      cpuUsageNs: 2_500_000_000n,
      ioReadBytes: 1010n,
      ioWriteBytes: 2020n,
      pids: [101, 102],
      oomKilled: true,
      errors: [],
    });
  });

  it("turns unreadable files into errors, never exceptions", async () => {
    const driver = new CgroupV2Driver({ root, parent: "apiary" });
    const handle = await driver.create("w6", {});
    const stats = driver.readStats(handle);
    expect(stats.memoryBytes).toBeUndefined();
    expect(stats.cpuUsageNs).toBeUndefined();
    expect(stats.errors.map((e) => e.message).join("\n")).toMatch(/memory.current: ENOENT/);
  });

  it("removes the worker's directory, and counts an already-removed one as removed", async () => {
    const driver = new CgroupV2Driver({ root, parent: "apiary" });
    const handle = await driver.create("w7", {});
    expect(await driver.remove(handle)).toEqual({ removed: true, errors: [] });
    expect(existsSync(handle.primaryPath)).toBe(false);
    expect((await driver.remove(handle)).removed).toBe(true);
  });

  it("gives up removing after its bound when the directory stays busy", async () => {
    const driver = new CgroupV2Driver({ root, parent: "apiary" });
    const handle = await driver.create("w8", {});
    writeFileSync(join(handle.primaryPath, "cgroup.procs"), "1\n"); // a non-empty dir cannot be rmdir'd
    const result = await driver.remove(handle, { timeoutMs: 150 });
    expect(result.removed).toBe(false);
    expect(result.errors[0].message).toMatch(/cannot remove cgroup/);
  });

  it("parses io.stat sums", () => {
    expect(parseIoStat("")).toEqual({ ioReadBytes: 0n, ioWriteBytes: 0n });
  });
});

describe("no cgroup driver", () => {
  it("reports requested limits as not enforced and no limits as enforced", async () => {
    const driver = new NoCgroupDriver();
    const limited = await driver.create("w", { pidsMax: 3 });
    expect(limited.enforced).toBe(false);
    expect(limited.errors[0].message).toMatch(/not enforced/);
    expect(limited.procsFiles).toEqual([]);
    expect((await driver.create("w", {})).enforced).toBe(true);
  });
});
