import { create } from "@bufbuild/protobuf";
import { DurationSchema, durationFromMs, timestampFromMs, type Duration } from "@bufbuild/protobuf/wkt";
import { EngineLoadSchema, type EngineLoad } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { EngineReading } from "./engine-reading.js";
import { intervalQuantile, type Buckets } from "./histogram.js";

interface Good {
  reading: EngineReading;
  /** Monotonic (performance.now()) and wall time of the scrape. */
  atMs: number;
  wallMs: number;
  load: EngineLoad;
}

function rate(before: number | undefined, after: number | undefined, seconds: number): number | undefined {
  if (before === undefined || after === undefined || !(seconds > 0)) return undefined;
  const delta = after - before;
  return delta >= 0 ? delta / seconds : undefined; // a counter that went down was reset
}

function latency(before: Buckets | undefined, after: Buckets | undefined, q: number): Duration | undefined {
  if (!before || !after) return undefined;
  const s = intervalQuantile(before, after, q);
  if (s === undefined) return undefined;
  // Whole microseconds: durationFromMs of a fractional ms can leave nanos fractional, which no encoder takes.
  const us = Math.round(s * 1e6);
  return create(DurationSchema, { seconds: BigInt(Math.floor(us / 1e6)), nanos: (us % 1e6) * 1000 });
}

/**
 * One worker's engine load across ticks: rates and interval latencies come from two successive
 * good readings (none on the first); when a scrape fails, the last good load is reported again,
 * marked stale with its age, never replaced by zeros.
 */
export class EngineLoadTracker {
  private good: Good | undefined;

  /** A fresh reading taken at monotonic `atMs`. */
  update(reading: EngineReading, atMs: number, wallMs: number, endpoint: string): EngineLoad {
    const prev = this.good;
    const seconds = prev ? (atMs - prev.atMs) / 1000 : 0;
    const p = prev?.reading;
    const load = create(EngineLoadSchema, {
      kind: reading.kind,
      version: reading.version,
      model: reading.model,
      requestsRunning: reading.running,
      requestsWaiting: reading.waiting,
      kvCacheUsageRatio: reading.kvRatio,
      promptTokensPerSec: rate(p?.promptTokensTotal, reading.promptTokensTotal, seconds),
      generationTokensPerSec: rate(p?.generationTokensTotal, reading.generationTokensTotal, seconds),
      ttftP50: latency(p?.ttft, reading.ttft, 0.5),
      ttftP95: latency(p?.ttft, reading.ttft, 0.95),
      interTokenLatencyP50: latency(p?.itl, reading.itl, 0.5),
      interTokenLatencyP95: latency(p?.itl, reading.itl, 0.95),
      sampledAt: timestampFromMs(wallMs),
      age: durationFromMs(0),
      stale: false,
      endpoint,
    });
    this.good = { reading, atMs, wallMs, load };
    return load;
  }

  /** The last good load, marked stale with its age at monotonic `nowMs`; undefined if there never was one. */
  stale(nowMs: number): EngineLoad | undefined {
    const good = this.good;
    if (!good) return undefined;
    return create(EngineLoadSchema, { ...good.load, stale: true, age: durationFromMs(Math.max(0, Math.round(nowMs - good.atMs))) });
  }

  /** The last good load with its age at `nowMs` (not stale). */
  current(nowMs: number): EngineLoad | undefined {
    const good = this.good;
    if (!good) return undefined;
    return create(EngineLoadSchema, { ...good.load, age: durationFromMs(Math.max(0, Math.round(nowMs - good.atMs))) });
  }
}
