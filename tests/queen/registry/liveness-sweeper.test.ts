import { describe, expect, it } from "vitest";
import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import { LivenessClock, ManualClock } from "../../../src/common/clock.js";
import { LivenessSweeper } from "../../../src/queen/registry/liveness-sweeper.js";
import { MemoryRegistry } from "../../../src/queen/registry/memory-registry.js";
import { makeHiveInfo, syntheticReport } from "../helpers/telemetry-builders.js";

const opts = { healthyMs: 3_000, degradedMs: 10_000, evictAfterMs: 60_000, sweepIntervalMs: 250, shardsPerSweepSlice: 2 };

function setup() {
  const clock = new ManualClock();
  const liveness = new LivenessClock(clock);
  const registry = new MemoryRegistry({ shards: 8, historySize: 1_000, clock: liveness });
  const sweeper = new LivenessSweeper(registry, liveness, opts);
  return { clock, liveness, registry, sweeper };
}

/** Moves time forward the way the running sweeper sees it: one on-time tick per interval. */
async function runFor(clock: ManualClock, sweeper: LivenessSweeper, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += opts.sweepIntervalMs) {
    clock.advance(Math.min(opts.sweepIntervalMs, ms - t));
    await sweeper.tick();
  }
}

describe("LivenessSweeper", () => {
  it("moves a silent hive HEALTHY → DEGRADED → DOWN → evicted exactly at the thresholds", async () => {
    const { clock, registry, sweeper } = setup();
    registry.hello(makeHiveInfo("h1"), "i");
    registry.applyReport("h1", "i", syntheticReport({ hiveId: "h1", workers: 2, gpus: 1 }));
    await sweeper.tick(); // baseline tick

    await runFor(clock, sweeper, 2_750);
    expect(registry.hive("h1")!.health).toBe(HiveHealth.HEALTHY); // age 2750
    await runFor(clock, sweeper, 249);
    expect(registry.hive("h1")!.health).toBe(HiveHealth.HEALTHY); // age 2999
    await runFor(clock, sweeper, 1);
    expect(registry.hive("h1")!.health).toBe(HiveHealth.DEGRADED); // age 3000
    await runFor(clock, sweeper, 6_999);
    expect(registry.hive("h1")!.health).toBe(HiveHealth.DEGRADED); // age 9999
    await runFor(clock, sweeper, 1);
    expect(registry.hive("h1")!.health).toBe(HiveHealth.DOWN); // age 10000
    await runFor(clock, sweeper, 59_999);
    expect(registry.hive("h1")!.health).toBe(HiveHealth.DOWN);
    expect(registry.workerCount()).toBe(2);
    await runFor(clock, sweeper, 1);
    expect(registry.hive("h1")).toBeUndefined();
    expect(registry.workerCount()).toBe(0);
  });

  it("keeps reporting hives HEALTHY and a report revives a DEGRADED hive", async () => {
    const { clock, registry, sweeper } = setup();
    registry.hello(makeHiveInfo("live"), "i");
    registry.hello(makeHiveInfo("quiet"), "i");
    await sweeper.tick();
    for (let s = 1; s <= 5; s++) {
      await runFor(clock, sweeper, 1_000);
      registry.applyReport("live", "i", syntheticReport({ hiveId: "live", seq: s, workers: 1, gpus: 1 }));
    }
    expect(registry.hive("live")!.health).toBe(HiveHealth.HEALTHY);
    expect(registry.hive("quiet")!.health).toBe(HiveHealth.DEGRADED);
    registry.applyReport("quiet", "i", syntheticReport({ hiveId: "quiet", workers: 1, gpus: 1 }));
    expect(registry.hive("quiet")!.health).toBe(HiveHealth.HEALTHY);
  });

  it("keeps a disconnected hive DEGRADED (never HEALTHY) until it goes DOWN", async () => {
    const { clock, registry, sweeper } = setup();
    registry.hello(makeHiveInfo("h1"), "i");
    registry.markDisconnected("h1", "i");
    await sweeper.tick();
    await runFor(clock, sweeper, 1_000);
    expect(registry.hive("h1")!.health).toBe(HiveHealth.DEGRADED);
    await runFor(clock, sweeper, 9_000);
    expect(registry.hive("h1")!.health).toBe(HiveHealth.DOWN);
  });

  it("does not count a stall of the queen's event loop against hives", async () => {
    const { clock, liveness, registry, sweeper } = setup();
    registry.hello(makeHiveInfo("h1"), "i");
    await sweeper.tick();
    await runFor(clock, sweeper, 1_000);
    // The loop is blocked for 30 s: the next sweep timer fires 30 s late.
    clock.advance(30_000);
    await sweeper.tick();
    expect(liveness.totalStalledMs()).toBe(30_000 - opts.sweepIntervalMs);
    expect(registry.hive("h1")!.health).toBe(HiveHealth.HEALTHY);
    // Silence after the stall still counts: 1 s before + 250 ms credited-out tick + 1.75 s after = 3 s.
    await runFor(clock, sweeper, 1_750);
    expect(registry.hive("h1")!.health).toBe(HiveHealth.DEGRADED);
  });

  it("runs on its own timer and stops", async () => {
    const clock = new ManualClock();
    const liveness = new LivenessClock(clock);
    const registry = new MemoryRegistry({ shards: 2, historySize: 100, clock: liveness });
    const sweeper = new LivenessSweeper(registry, liveness, { ...opts, sweepIntervalMs: 5 });
    registry.hello(makeHiveInfo("h1"), "i");
    clock.advance(3_000);
    sweeper.start();
    const deadline = Date.now() + 5_000;
    while (registry.hive("h1")!.health !== HiveHealth.DEGRADED && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await sweeper.stop();
    expect(registry.hive("h1")!.health).toBe(HiveHealth.DEGRADED);
  });
});
