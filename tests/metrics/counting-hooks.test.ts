import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { HiveReportSchema, WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import { WorkerCounters } from "../../src/hive/metrics/worker-counters.js";
import { ChangeType, type RegistryEvent } from "../../src/queen/registry/registry.js";
import { WatcherQueue } from "../../src/queen/watch/watcher-queue.js";
import { makeWorker } from "../queen/helpers/telemetry-builders.js";

let rev = 0;
const ev = (type: ChangeType, workerId: string): RegistryEvent => ({ revision: ++rev, kind: "worker", type, hiveId: "h", worker: makeWorker(workerId) });

describe("counting for /metrics", () => {
  it("a watcher queue counts every undelivered change replaced by a later one", () => {
    const q = new WatcherQueue(0, 1000);
    q.offer(ev(ChangeType.Added, "a"));
    q.offer(ev(ChangeType.Updated, "a"));
    q.offer(ev(ChangeType.Updated, "b"));
    expect(q.coalesced()).toBe(1);
    q.offer(ev(ChangeType.Removed, "b"));
    expect(q.coalesced()).toBe(2);
    q.take(0);
    q.offer(ev(ChangeType.Updated, "a"));
    expect(q.coalesced()).toBe(2);
  });

  it("worker counters add rate × interval per new measurement, never a repeated one, and forget ended workers", () => {
    const counters = new WorkerCounters();
    const report = (atMs: number, workers: ReturnType<typeof makeWorker>[]) => create(HiveReportSchema, { collectedAt: timestampFromMs(atMs), workers });
    const first = makeWorker("w", { cpuPct: undefined, ioReadBytesPerSec: undefined });
    counters.update(report(1_000, [first]));
    const second = makeWorker("w", { cpuPct: 150, ioReadBytesPerSec: 1000, ioWriteBytesPerSec: 10 });
    counters.update(report(3_000, [second]));
    counters.update(report(4_000, [second])); // sampling overran the tick: the same measurement again
    const [t] = [...counters.totals()];
    expect(t.cpuSeconds).toBeCloseTo(3);
    expect(t.ioReadBytes).toBeCloseTo(2000);
    expect(t.ioWriteBytes).toBeCloseTo(20);
    counters.update(report(5_000, [makeWorker("w", { state: WorkerState.EXITED })]));
    expect([...counters.totals()]).toEqual([]);
  });
});
