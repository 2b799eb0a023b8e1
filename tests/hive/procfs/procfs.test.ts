import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseCmdline } from "../../../src/hive/procfs/proc-cmdline.js";
import { parseProcIo, readProcIo } from "../../../src/hive/procfs/proc-io.js";
import { parseProcStat, readProcStat } from "../../../src/hive/procfs/proc-stat.js";
import { parseMemInfo, readMemInfo } from "../../../src/hive/procfs/meminfo.js";
import { scanProcessTable } from "../../../src/hive/procfs/process-table.js";
import { systemConstants } from "../../../src/hive/procfs/system-constants.js";

function statLine(pid: number, comm: string, ppid: number, opts: { pgrp?: number; utime?: number; stime?: number; start?: number; rss?: number; state?: string } = {}): string {
  // fields 3..52 after "(comm)"
  const f = Array.from({ length: 50 }, () => "0");
  f[0] = opts.state ?? "S";
  f[1] = String(ppid);
  f[2] = String(opts.pgrp ?? pid);
  f[11] = String(opts.utime ?? 0);
  f[12] = String(opts.stime ?? 0);
  f[19] = String(opts.start ?? 1000);
  f[21] = String(opts.rss ?? 0);
  return `${pid} (${comm}) ${f.join(" ")}\n`;
}

describe("parseProcStat", () => {
  it("handles a comm with spaces and parentheses", () => {
    const stat = parseProcStat(statLine(42, "my (weird) prog) x", 7, { utime: 150, stime: 50, start: 12345, rss: 256, pgrp: 40 }));
    expect(stat).toMatchObject({ pid: 42, comm: "my (weird) prog) x", ppid: 7, pgrp: 40, utimeTicks: 150, stimeTicks: 50, startTimeTicks: 12345, rssPages: 256, state: "S" });
  });

  it("rejects text that is not a stat line", () => {
    expect(parseProcStat("garbage")).toBeUndefined();
    expect(parseProcStat("12 (x) S 1 2")).toBeUndefined();
  });

  it("reads this process's own stat", async () => {
    const stat = await readProcStat(process.pid);
    expect(stat?.pid).toBe(process.pid);
    expect(stat?.ppid).toBe(process.ppid);
    expect(stat!.startTimeTicks).toBeGreaterThan(0);
  });
});

describe("proc io, cmdline, meminfo", () => {
  it("parses /proc/<pid>/io and reads our own", async () => {
    expect(parseProcIo("rchar: 5\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n")).toEqual({ readBytes: 4096, writeBytes: 8192 });
    const own = await readProcIo(process.pid);
    expect(own.ok).toBe(true);
  });

  it("returns an error, not an exception, for a missing process", async () => {
    const result = await readProcIo(2 ** 22 + 7);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(/ENOENT/);
  });

  it("splits cmdline on NUL", () => {
    expect(parseCmdline("vllm\0serve\0a b\0")).toEqual(["vllm", "serve", "a b"]);
    expect(parseCmdline("")).toEqual([]);
  });

  it("parses meminfo and reads the real one", async () => {
    expect(parseMemInfo("MemTotal: 100 kB\nMemFree: 1 kB\nMemAvailable: 50 kB\n")).toEqual({ memTotalBytes: 102400n, memAvailableBytes: 51200n });
    const real = await readMemInfo();
    expect(real.memAvailableBytes).toBeGreaterThan(0n);
    expect(real.memAvailableBytes).toBeLessThanOrEqual(real.memTotalBytes);
  });

  it("asks getconf for CLK_TCK and PAGESIZE", () => {
    const c = systemConstants();
    expect(c.clockTicksPerSec).toBe(100);
    expect(c.pageSizeBytes).toBe(4096);
  });
});

describe("scanProcessTable", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "apiary-proc-"));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function proc(pid: number, stat: string | undefined): void {
    mkdirSync(join(root, String(pid)));
    if (stat !== undefined) writeFileSync(join(root, String(pid), "stat"), stat);
  }

  it("builds the tree from one walk and skips vanished, broken and zombie entries", async () => {
    proc(1, statLine(1, "init", 0));
    proc(10, statLine(10, "worker", 1, { pgrp: 10 }));
    proc(11, statLine(11, "child one", 10, { pgrp: 10 }));
    proc(12, statLine(12, "grandchild", 11, { pgrp: 99 }));
    proc(13, undefined); // vanished between readdir and read
    proc(14, "not a stat line");
    proc(15, statLine(15, "zombie", 10, { state: "Z" }));
    mkdirSync(join(root, "self"));
    const table = await scanProcessTable(root);
    expect([...table.processes.keys()].sort((a, b) => a - b)).toEqual([1, 10, 11, 12]);
    expect(table.treeOf(10)).toEqual([10, 11, 12]);
    expect(table.groupMembers(10).sort()).toEqual([10, 11]);
    expect(table.treeOf(13)).toEqual([]);
    expect(table.isSameProcess(10, 1000)).toBe(true);
    expect(table.isSameProcess(10, 999)).toBe(false);
  });

  it("walks the real /proc and finds this process under its parent", async () => {
    const table = await scanProcessTable();
    expect(table.treeOf(process.ppid)).toContain(process.pid);
  });
});
