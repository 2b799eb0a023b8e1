import { describe, expect, it } from "vitest";
import { LogCheckpoints } from "../../../src/hive/worker-logs/log-checkpoints.js";

describe("LogCheckpoints", () => {
  it("answers the size of the last checkpoint at or before the time, never later", () => {
    const c = new LogCheckpoints();
    c.record("/a", 10, 1000);
    c.record("/a", 10, 2000); // unchanged: not recorded
    c.record("/a", 25, 3000);
    expect(c.count("/a")).toBe(2);
    expect(c.offsetSince("/a", 500, 25, 3000)).toBe(0);
    expect(c.offsetSince("/a", 1000, 25, 3000)).toBe(10);
    expect(c.offsetSince("/a", 2999, 25, 3000)).toBe(10);
    expect(c.offsetSince("/a", 3000, 25, 3000)).toBe(25);
    expect(c.offsetSince("/a", 5000, 25, 3000)).toBe(25); // mtime before the time: nothing new
  });

  it("forgets a log's checkpoints when it shrinks (copytruncate)", () => {
    const c = new LogCheckpoints();
    c.record("/a", 100, 1000);
    c.record("/a", 5, 2000);
    expect(c.count("/a")).toBe(1);
    expect(c.offsetSince("/a", 1500, 5, 2000)).toBe(0);
  });

  it("stays bounded per log (coarser, still never late) and in number of logs", () => {
    const c = new LogCheckpoints({ maxPerLog: 8, maxLogs: 3 });
    for (let i = 1; i <= 1000; i++) c.record("/a", i * 10, i * 1000);
    expect(c.count("/a")).toBeLessThanOrEqual(8);
    for (const t of [1000, 250_000, 999_000, 1_000_000]) {
      const offset = c.offsetSince("/a", t, 10_000, 1_000_000);
      // Everything written at or after t (bytes past t/100) is included.
      expect(offset).toBeLessThanOrEqual((t / 1000) * 10);
    }
    for (const path of ["/b", "/c", "/d"]) c.record(path, 1, 1);
    expect(c.logs).toBe(3);
    expect(c.count("/a")).toBe(0); // the least recently grown went first
  });
});
