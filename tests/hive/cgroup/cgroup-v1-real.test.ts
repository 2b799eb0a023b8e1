import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { CgroupV1Driver, V1_CONTROLLERS } from "../../../src/hive/cgroup/cgroup-v1-driver.js";
import { detectCgroupMode } from "../../../src/hive/cgroup/detect-cgroup-mode.js";
import { HeldFiles } from "../../../src/hive/procfs/held-files.js";
import { waitUntil } from "../../helpers/wait.js";

// This machine mounts the v1 controllers separately under /sys/fs/cgroup.
const ROOT = "/sys/fs/cgroup";
const PARENT = `apiary-test-${randomBytes(4).toString("hex")}`;

afterAll(() => {
  for (const controller of V1_CONTROLLERS) {
    try {
      rmdirSync(`${ROOT}/${controller}/${PARENT}`);
    } catch {
      // not created
    }
  }
});

describe("cgroup v1 driver on the real tree", () => {
  const driver = new CgroupV1Driver({ root: ROOT, parent: PARENT });

  it("detects v1 here", async () => {
    expect(await detectCgroupMode(ROOT)).toBe("v1");
  });

  it("writes the limits into the controllers' files", async () => {
    const created = await driver.create("limits", { memoryMaxBytes: 64n * 1024n * 1024n, cpuMaxMillicores: 1500, pidsMax: 32 });
    try {
      expect(created.errors).toEqual([]);
      expect(created.enforced).toBe(true);
      const read = (controller: string, file: string): string => readFileSync(`${created.paths[controller]}/${file}`, "utf8").trim();
      expect(read("memory", "memory.limit_in_bytes")).toBe(String(64 * 1024 * 1024));
      expect(read("cpu", "cpu.cfs_period_us")).toBe("100000");
      expect(read("cpu", "cpu.cfs_quota_us")).toBe("150000");
      expect(read("pids", "pids.max")).toBe("32");
      expect(created.procsFiles).toHaveLength(5);
      expect(created.primaryPath).toBe(`${ROOT}/memory/${PARENT}/limits`);
    } finally {
      expect((await driver.remove(created)).removed).toBe(true);
    }
    for (const dir of Object.values(created.paths)) expect(existsSync(dir)).toBe(false);
  });

  it("counts the CPU and pids of a process in the cgroup and removes it once it is gone", async () => {
    const handle = await driver.create("stats", {});
    const child = spawn("/bin/sh", ["-c", 'for f in "$@"; do echo $$ > "$f"; done; exec sh -c "while :; do :; done"', "x", ...handle.procsFiles], { stdio: "ignore" });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      const deadline = Date.now() + 10_000;
      let stats = driver.readStats(handle);
      while ((stats.cpuUsageNs ?? 0n) < 50_000_000n && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        stats = driver.readStats(handle);
      }
      expect(stats.errors).toEqual([]);
      expect(stats.pids).toContain(child.pid);
      expect(stats.cpuUsageNs).toBeGreaterThanOrEqual(50_000_000n);
      expect(stats.memoryBytes).toBeGreaterThan(0n);
      expect(stats.oomKilled).toBe(false);
      expect(stats.ioReadBytes).toBeUndefined(); // v1 blkio cannot attribute writeback: /proc is used
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
    expect((await driver.remove(handle)).removed).toBe(true);
  });

  it("reports a missing hierarchy as a limit not enforced", async () => {
    const fake = new CgroupV1Driver({ root: "/nonexistent-cgroup-root", parent: PARENT });
    const created = await fake.create("x", { memoryMaxBytes: 1n << 20n });
    expect(created.enforced).toBe(false);
    expect(created.errors[0].message).toMatch(/memory_max_bytes: not enforced/);
  });

  it("reports a limit the kernel refuses as not enforced, with its reason", async () => {
    const parentCpu = `${ROOT}/cpu/${PARENT}`;
    mkdirSync(parentCpu, { recursive: true });
    // The kernel refuses a child CFS quota above its parent's.
    writeFileSync(`${parentCpu}/cpu.cfs_quota_us`, "50000");
    const created = await driver.create("refused", { cpuMaxMillicores: 1000, pidsMax: 8 });
    try {
      expect(created.enforced).toBe(false);
      expect(created.errors).toHaveLength(1);
      expect(created.errors[0].source).toBe("cgroup");
      expect(created.errors[0].message).toMatch(/cpu_max_millicores: not enforced: .*cpu.cfs_quota_us: EINVAL/);
      expect(readFileSync(`${created.paths.pids}/pids.max`, "utf8").trim()).toBe("8");
    } finally {
      await driver.remove(created);
      writeFileSync(`${parentCpu}/cpu.cfs_quota_us`, "-1");
    }
  });

  it("removes the hive's own parent group once it is empty, never while a worker's group is in it", async () => {
    const hiveParent = `${PARENT}/hive-a`;
    const hiveDriver = new CgroupV1Driver({ root: ROOT, parent: hiveParent });
    const created = await hiveDriver.create("left", {});
    expect(await hiveDriver.removeParent()).toBe(false);
    for (const controller of V1_CONTROLLERS) expect(existsSync(`${ROOT}/${controller}/${hiveParent}`)).toBe(true);
    expect((await hiveDriver.remove(created)).removed).toBe(true);
    expect(await hiveDriver.removeParent()).toBe(true);
    for (const controller of V1_CONTROLLERS) {
      expect(existsSync(`${ROOT}/${controller}/${hiveParent}`)).toBe(false);
      expect(existsSync(`${ROOT}/${controller}/${PARENT}`)).toBe(true); // the level above is shared by other hives
    }
    expect(await hiveDriver.removeParent()).toBe(true);
  });

  it("reads its counters through kept descriptors: a group removed and made again at its path reads as the new one", async () => {
    const files = new HeldFiles();
    const held = new CgroupV1Driver({ root: ROOT, parent: PARENT, files });
    const inGroup = async (handle: Awaited<ReturnType<typeof held.create>>) => {
      const child = spawn("/bin/sh", ["-c", 'for f in "$@"; do echo $$ > "$f"; done; exec sleep 30', "x", ...handle.procsFiles], { stdio: "ignore" });
      const exited = new Promise((resolve) => child.once("exit", resolve));
      // In the group once the plain driver (a fresh read of cgroup.procs) lists it.
      await waitUntil(() => driver.readStats(handle).pids?.includes(child.pid!) === true, "the process in its group");
      return { pid: child.pid!, end: async () => (child.kill("SIGKILL"), await exited) };
    };
    try {
      const first = await held.create("again", {});
      const one = await inGroup(first);
      expect(held.readStats(first)).toMatchObject({ errors: [], pids: [one.pid] });
      const kept = files.size;
      expect(kept).toBeGreaterThan(0);
      await one.end();
      expect((await held.remove(first)).removed).toBe(true);
      const second = await held.create("again", {});
      const two = await inGroup(second);
      try {
        // The descriptors kept from the removed group fail (ENODEV): each is opened again, no error.
        const stats = held.readStats(second);
        expect(stats.errors).toEqual([]);
        expect(stats.pids).toEqual([two.pid]);
        expect(stats.memoryBytes).toBeDefined();
        expect(stats.cpuUsageNs).toBeDefined();
        expect(files.size).toBe(kept);
      } finally {
        await two.end();
        expect((await held.remove(second)).removed).toBe(true);
      }
    } finally {
      files.close();
    }
  });
});
