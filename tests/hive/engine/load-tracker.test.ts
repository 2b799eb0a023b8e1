import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { EngineKind, WorkerTelemetrySchema } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { EngineReading } from "../../../src/hive/engine/engine-reading.js";
import { intervalQuantile, quantile } from "../../../src/hive/engine/histogram.js";
import { EngineLoadTracker } from "../../../src/hive/engine/load-tracker.js";

const ms = (d: { seconds: bigint; nanos: number } | undefined) => (d === undefined ? undefined : Number(d.seconds) * 1000 + d.nanos / 1e6);
const bounds = [0.01, 0.1, 1, Infinity];

function reading(over: Partial<EngineReading>): EngineReading {
  return { kind: EngineKind.VLLM, version: "", model: "m", running: 1, waiting: 0, ...over };
}

describe("histogram quantiles", () => {
  it("interpolates inside a bucket as histogram_quantile does, and answers the highest finite bound for +Inf", () => {
    expect(quantile(bounds, [0, 10, 10, 10], 0.5)).toBeCloseTo(0.055, 12);
    expect(quantile(bounds, [0, 0, 0, 4], 0.5)).toBe(1);
    expect(quantile(bounds, [0, 0, 0, 0], 0.5)).toBeUndefined();
  });

  it("uses only the observations between two readings; a reset or changed bounds gives no answer", () => {
    const before = { bounds, counts: [100, 100, 100, 100] };
    const after = { bounds, counts: [100, 100, 110, 110] };
    expect(intervalQuantile(before, after, 0.5)).toBeCloseTo(0.55, 12);
    expect(intervalQuantile(after, before, 0.5)).toBeUndefined();
    expect(intervalQuantile(before, before, 0.5)).toBeUndefined();
    expect(intervalQuantile({ bounds: [0.5, Infinity], counts: [1, 1] }, after, 0.5)).toBeUndefined();
  });
});

describe("EngineLoadTracker", () => {
  it("has no rates or latencies on the first sample, then counter deltas over monotonic time", () => {
    const t = new EngineLoadTracker();
    const first = t.update(reading({ promptTokensTotal: 1000, generationTokensTotal: 50, ttft: { bounds, counts: [0, 5, 5, 5] } }), 10_000, 1, "u");
    expect(first.promptTokensPerSec).toBeUndefined();
    expect(first.generationTokensPerSec).toBeUndefined();
    expect(first.ttftP50).toBeUndefined();
    expect(first).toMatchObject({ requestsRunning: 1, requestsWaiting: 0, stale: false, endpoint: "u" });

    const second = t.update(reading({ promptTokensTotal: 1500, generationTokensTotal: 250, ttft: { bounds, counts: [0, 5, 15, 15] } }), 12_000, 2, "u");
    expect(second.promptTokensPerSec).toBe(250);
    expect(second.generationTokensPerSec).toBe(100);
    expect(ms(second.ttftP50)).toBeCloseTo(550, 3);
    expect(ms(second.ttftP95)).toBeCloseTo(955, 3);
    expect(second.interTokenLatencyP50).toBeUndefined();
  });

  it("after a counter reset (engine restarted) the rate is unknown, not negative", () => {
    const t = new EngineLoadTracker();
    t.update(reading({ generationTokensTotal: 900 }), 0, 0, "u");
    expect(t.update(reading({ generationTokensTotal: 10 }), 1000, 0, "u").generationTokensPerSec).toBeUndefined();
    expect(t.update(reading({ generationTokensTotal: 30 }), 2000, 0, "u").generationTokensPerSec).toBe(20);
  });

  it("reports the last good values as stale with their age, never zeros; nothing before the first good sample", () => {
    const t = new EngineLoadTracker();
    expect(t.stale(5)).toBeUndefined();
    t.update(reading({ running: 7, waiting: 3, kvRatio: 0.4 }), 1000, 0, "u");
    const stale = t.stale(3500)!;
    expect(stale).toMatchObject({ requestsRunning: 7, requestsWaiting: 3, kvCacheUsageRatio: 0.4, stale: true });
    expect(ms(stale.age)).toBe(2500);
  });
});

describe("EngineLoadTracker latencies on the wire", () => {
  it("gives whole nanoseconds, so that every report encodes (a fractional one broke the heartbeat)", () => {
    for (let n = 1; n < 200; n++) {
      const t = new EngineLoadTracker();
      t.update(reading({ ttft: { bounds, counts: [0, 0, 0, 0] } }), 1_000, 1, "u");
      const load = t.update(reading({ ttft: { bounds, counts: [n, 200, 200, 200] } }), 2_000, 2, "u");
      expect(Number.isInteger(load.ttftP50!.nanos), `n=${n}: ${load.ttftP50!.nanos}`).toBe(true);
      expect(() => toBinary(WorkerTelemetrySchema, create(WorkerTelemetrySchema, { engineLoad: load }))).not.toThrow();
    }
  });
});
