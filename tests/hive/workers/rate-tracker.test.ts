import { describe, expect, it } from "vitest";
import { RateTracker } from "../../../src/hive/workers/rate-tracker.js";

const S = 1_000_000_000n;

describe("RateTracker", () => {
  it("gives no rates on the first sample (unknown, not 0)", () => {
    const rates = new RateTracker().update({ atNs: 5n * S, cpuNs: 10n * S, ioReadBytes: 100n, ioWriteBytes: 100n });
    expect(rates.cpuPct).toBeUndefined();
    expect(rates.ioReadBytesPerSec).toBeUndefined();
    expect(rates.ioWriteBytesPerSec).toBeUndefined();
  });

  it("computes CPU % of one core and bytes per second from deltas over elapsed time", () => {
    const t = new RateTracker();
    t.update({ atNs: 0n, cpuNs: 0n, ioReadBytes: 0n, ioWriteBytes: 1000n });
    const rates = t.update({ atNs: 2n * S, cpuNs: 4n * S, ioReadBytes: 2048n, ioWriteBytes: 5000n });
    expect(rates.cpuPct).toBeCloseTo(200, 6); // two cores busy for 2 s
    expect(rates.ioReadBytesPerSec).toBeCloseTo(1024, 6);
    expect(rates.ioWriteBytesPerSec).toBeCloseTo(2000, 6);
  });

  it("never reports a negative rate when a counter goes backwards", () => {
    const t = new RateTracker();
    t.update({ atNs: 0n, cpuNs: 10n * S, ioReadBytes: 500n, ioWriteBytes: 500n });
    const rates = t.update({ atNs: S, cpuNs: 3n * S, ioReadBytes: 100n, ioWriteBytes: 900n });
    expect(rates.cpuPct).toBeUndefined();
    expect(rates.ioReadBytesPerSec).toBeUndefined();
    expect(rates.ioWriteBytesPerSec).toBeCloseTo(400, 6);
    // and the next interval is measured from the new baseline
    expect(t.update({ atNs: 2n * S, cpuNs: 3n * S + S / 2n }).cpuPct).toBeCloseTo(50, 6);
  });

  it("gives no rate for a counter missing on either side", () => {
    const t = new RateTracker();
    t.update({ atNs: 0n, cpuNs: 0n });
    expect(t.update({ atNs: S, cpuNs: S, ioReadBytes: 5n }).ioReadBytesPerSec).toBeUndefined();
  });
});
