// Xid lines of several driver generations (fixtures/SOURCES.md) through the parser, the kmsg
// reader (a real regular file and a real FIFO standing in for /dev/kmsg) and the per-GPU history.
import { execFileSync } from "node:child_process";
import { appendFileSync, closeSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { KmsgReader } from "../../../src/hive/kmsg/kmsg-reader.js";
import { parseKmsgRecord, parseXid, XidLineParser } from "../../../src/hive/kmsg/parse-xid-line.js";
import { RECENT_PER_GPU, XidMonitor } from "../../../src/hive/kmsg/xid-monitor.js";
import { tempDir } from "../gpu/process-helpers.js";

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");
const rows = readFileSync(path.join(fixtures, "xid-lines.txt"), "utf8")
  .split("\n")
  .filter((l) => l && !l.startsWith("#"))
  .map((l) => {
    const [code, bus, ...rest] = l.split("|");
    return { code: Number(code), bus, line: rest.join("|") };
  });

describe("Xid lines", () => {
  it.each(rows)("$line → Xid $code on $bus", ({ code, bus, line }) => {
    const xid = parseXid(parseKmsgRecord(line).message);
    expect(xid).toMatchObject({ code, busId: bus });
    expect(xid!.text.startsWith("Xid (")).toBe(true);
  });

  it("the kmsg header gives the record's sequence number", () => {
    expect(parseKmsgRecord("4,1530,48672311101,-;NVRM: Xid (PCI:0000:3b:00): 79, x")).toMatchObject({ seq: 1530, message: "NVRM: Xid (PCI:0000:3b:00): 79, x" });
  });

  it("lines that are not Xids are none", () => {
    for (const line of ["NVRM: loading NVIDIA UNIX Open Kernel Module 570.158.01", "mlx5_core 0000:ab:00.0 mlx5_5: Port: 1 Link ACTIVE", "NVRM: Xid (PCI:zzzz): 79, x", ""]) {
      expect(parseXid(line), line).toBeUndefined();
    }
  });

  it("the multi-line fallen-off-the-bus report without an Xid counts as Xid 79 of its GPU", () => {
    const parser = new XidLineParser();
    const found = readFileSync(path.join(fixtures, "fallen-off-bus-no-xid.txt"), "utf8").split("\n").map((l) => parser.accept(l)).filter(Boolean);
    expect(found).toEqual([expect.objectContaining({ code: 79, busId: "0000:b3:00" })]);
  });

  it("text is cut to a bounded length", () => {
    expect(parseXid(`NVRM: Xid (PCI:0000:3b:00): 31, ${"x".repeat(5000)}`)!.text.length).toBeLessThanOrEqual(300);
  });
});

describe("KmsgReader", () => {
  it("skips what the file held before the first poll, then reads appended records", () => {
    const file = path.join(tempDir("apiary-kmsg-"), "kmsg");
    writeFileSync(file, rows.map((r) => r.line).join("\n") + "\n");
    const reader = new KmsgReader({ path: file });
    expect(reader.poll()).toEqual({ lines: [], error: undefined });
    appendFileSync(file, "6,9001,1000,-;NVRM: Xid (PCI:0000:18:00): 79, pid=1, GPU has fallen off the bus.\n SUBSYSTEM=pci\n DEVICE=+pci:0000:18:00.0\n");
    expect(reader.poll().lines).toEqual(["6,9001,1000,-;NVRM: Xid (PCI:0000:18:00): 79, pid=1, GPU has fallen off the bus."]);
    expect(reader.poll().lines).toEqual([]);
    reader.close();
  });

  it("a poll makes at most maxReadsPerPoll reads: a flood is read over several polls", () => {
    const file = path.join(tempDir("apiary-kmsg-"), "kmsg");
    writeFileSync(file, "");
    const reader = new KmsgReader({ path: file, maxReadsPerPoll: 1 });
    reader.poll();
    const line = "NVRM: Xid (PCI:0000:18:00): 13, pid=1, Graphics Exception\n";
    appendFileSync(file, line.repeat(1000)); // ~57 KiB: several 8 KiB reads
    const first = reader.poll().lines.length;
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(1000);
    let total = first;
    for (let i = 0; i < 20 && total < 1000; i++) total += reader.poll().lines.length;
    expect(total).toBe(1000);
    reader.close();
  });

  it("reads a FIFO without blocking, with and without a writer", () => {
    const fifo = path.join(tempDir("apiary-kmsg-"), "kmsg.fifo");
    execFileSync("mkfifo", [fifo]);
    const reader = new KmsgReader({ path: fifo });
    expect(reader.poll()).toEqual({ lines: [], error: undefined }); // no writer: answers at once
    const writer = openSync(fifo, "w");
    expect(reader.poll().lines).toEqual([]); // writer, nothing written: EAGAIN, answers at once
    writeSync(writer, "NVRM: Xid (PCI:0000:28:00): 48, pid=7, DBE\n");
    expect(reader.poll().lines).toEqual(["NVRM: Xid (PCI:0000:28:00): 48, pid=7, DBE"]);
    closeSync(writer);
    reader.close();
  });
});

describe("XidMonitor", () => {
  it("an unreadable kernel log is one standing CollectionError, retried only after retryMs", () => {
    let now = 1_000;
    const monitor = new XidMonitor({ path: "/nonexistent/kmsg", retryMs: 60_000, now: () => now });
    const first = monitor.poll();
    expect(first).toMatchObject({ source: "gpu.kmsg" });
    expect(first!.message).toContain("/nonexistent/kmsg");
    now += 1_000;
    expect(monitor.poll()).toEqual(first);
  });

  it("keeps a bounded recent list and counts by code per GPU, and judges codes only within the hold window", () => {
    const file = path.join(tempDir("apiary-kmsg-"), "kmsg");
    writeFileSync(file, "");
    let now = 10_000;
    const monitor = new XidMonitor({ path: file, holdMs: 60_000, now: () => now });
    monitor.poll();
    const lines = Array.from({ length: 20 }, (_, i) => `NVRM: Xid (PCI:0000:18:00): ${i < 19 ? 13 : 79}, pid=${i}, x`);
    appendFileSync(file, lines.join("\n") + "\nNVRM: Xid (PCI:0000:28:00): 31, pid=1, fault\n");
    expect(monitor.poll()).toBeUndefined();
    const gpu0 = monitor.history("0000:18:00");
    expect(gpu0.recent).toHaveLength(RECENT_PER_GPU);
    expect(gpu0.recent.at(-1)).toMatchObject({ code: 79, text: "Xid (PCI:0000:18:00): 79, pid=19, x" });
    expect(gpu0.counts.map((c) => [c.code, c.count])).toEqual([[13, 19n], [79, 1n]]);
    expect(gpu0.seen.map((s) => s.code).sort()).toEqual([13, 79]);
    expect(monitor.history("0000:28:00").counts.map((c) => c.code)).toEqual([31]);
    expect(monitor.history("0000:99:00").recent).toEqual([]);
    now += 61_000;
    expect(monitor.history("0000:18:00").seen).toEqual([]);
    expect(monitor.history("0000:18:00").counts).toHaveLength(2);
    monitor.close();
  });
});
