import { describe, expect, it } from "vitest";
import { parseTraceGcLine, summarizeGc, type GcEvent } from "../../bench/lib/trace-gc.js";

// Lines as node 20 prints them with --trace-gc.
const SCAVENGE = "[5138:0x9f23e70]      110 ms: Scavenge 3.8 (4.0) -> 3.4 (5.0) MB, 12.43 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; ";
const MARK_COMPACT =
  "[5164:0x36875e50]      926 ms: Mark-Compact 57.2 (75.9) -> 40.8 (75.4) MB, 115.31 / 0.00 ms  (+ 0.0 ms in 1 steps since start of marking, biggest step 0.0 ms, walltime since start of marking 126 ms) (average mu = 1.000, current mu = 1.000) finalize incremental marking via stack guard; GC in old space requested";

describe("--trace-gc lines", () => {
  it("reads the isolate, time, kind, heap before and after, and the pause", () => {
    expect(parseTraceGcLine(SCAVENGE)).toEqual({ isolate: "0x9f23e70", atMs: 110, kind: "Scavenge", beforeMB: 3.8, afterMB: 3.4, pauseMs: 12.43 });
    expect(parseTraceGcLine(MARK_COMPACT)).toMatchObject({ kind: "Mark-Compact", beforeMB: 57.2, afterMB: 40.8, pauseMs: 115.31 });
    expect(parseTraceGcLine('{"level":30,"msg":"hive connected"}')).toBeUndefined();
  });

  it("keeps the busiest isolate and derives the allocation rate from heap growth between collections", () => {
    const gc = (isolate: string, atMs: number, kind: string, beforeMB: number, afterMB: number, pauseMs: number): GcEvent => ({ isolate, atMs, kind, beforeMB, afterMB, pauseMs });
    const s = summarizeGc([
      gc("0xa", 1_000, "Scavenge", 20, 10, 2),
      gc("0xloader", 1_200, "Scavenge", 5, 1, 50),
      gc("0xa", 2_000, "Scavenge", 30, 12, 4),
      gc("0xa", 3_000, "Mark-Compact", 32, 8, 10),
    ]);
    expect(s.count).toBe(3);
    expect(s.byKind.Scavenge.count).toBe(2);
    expect(s.byKind["Mark-Compact"].max).toBe(10);
    expect(s.pauses.max).toBe(10);
    // (30 − 10) + (32 − 12) = 40 MB over 2 s.
    expect(s.allocatedBytesPerSecond).toBe(20 * 1024 * 1024);
  });
});
