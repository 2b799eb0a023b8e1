import { summarize, type LatencySummary } from "./stats.js";

/** One line of node --trace-gc. */
export interface GcEvent {
  /** The isolate (the main thread and tsx's loader thread print apart). */
  isolate: string;
  /** ms since the isolate started. */
  atMs: number;
  /** "Scavenge", "Mark-Compact", "Mark-Compact (reduce)", "Minor Mark-Compact"... */
  kind: string;
  /** Heap used before and after, MB. */
  beforeMB: number;
  afterMB: number;
  /** The main thread's pause, ms (for an incremental mark-compact: its final atomic pause). */
  pauseMs: number;
}

// [pid:0xisolate]   1234 ms: Scavenge 3.8 (4.0) -> 3.4 (5.0) MB, 12.43 / 0.00 ms  (average mu = ...
const LINE = /^\[\d+:(0x[0-9a-f]+)\]\s+(\d+) ms: ([A-Za-z-]+(?: \([a-z]+\))?) (\d+(?:\.\d+)?) \(\d+(?:\.\d+)?\) -> (\d+(?:\.\d+)?) \(\d+(?:\.\d+)?\) MB, (\d+(?:\.\d+)?) \//;

export function parseTraceGcLine(line: string): GcEvent | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  return { isolate: m[1], atMs: Number(m[2]), kind: m[3], beforeMB: Number(m[4]), afterMB: Number(m[5]), pauseMs: Number(m[6]) };
}

export interface GcSummary {
  count: number;
  /** Pauses of every GC in the window, and by kind. */
  pauses: LatencySummary;
  byKind: Record<string, LatencySummary>;
  /** Heap allocated per second: growth of the used heap between one GC's end and the next one's start. */
  allocatedBytesPerSecond: number;
}

/**
 * GCs of one window of the main isolate (the one with the most lines), and the allocation rate
 * they imply: the used heap only grows by allocation between two collections, so the sum of
 * (before of GC n+1 − after of GC n) over the time from the first to the last GC of the window
 * is the bytes allocated per second (to the 0.1 MB the trace prints, per GC).
 */
export function summarizeGc(events: GcEvent[]): GcSummary {
  const perIsolate = new Map<string, GcEvent[]>();
  for (const e of events) {
    const list = perIsolate.get(e.isolate) ?? [];
    list.push(e);
    perIsolate.set(e.isolate, list);
  }
  const main = [...perIsolate.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  const byKind: Record<string, number[]> = {};
  for (const e of main) (byKind[e.kind] ??= []).push(e.pauseMs);
  let allocatedMB = 0;
  for (let i = 1; i < main.length; i++) allocatedMB += Math.max(0, main[i].beforeMB - main[i - 1].afterMB);
  const spanS = main.length > 1 ? (main[main.length - 1].atMs - main[0].atMs) / 1000 : NaN;
  return {
    count: main.length,
    pauses: summarize(main.map((e) => e.pauseMs)),
    byKind: Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, summarize(v)])),
    allocatedBytesPerSecond: spanS > 0 ? (allocatedMB * 1024 * 1024) / spanS : NaN,
  };
}
