/** Percentile (0–100) of a sample set, by nearest rank on a sorted copy; NaN when empty. */
export function percentile(samples: ArrayLike<number>, p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function summarize(samples: ArrayLike<number>): LatencySummary {
  if (samples.length === 0) return { count: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(samples).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  return { count: sorted.length, p50: at(50), p90: at(90), p99: at(99), max: sorted[sorted.length - 1] };
}

/** Median of repeated measurements (NaN values ignored; NaN when none). */
export function median(values: number[]): number {
  const ok = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (ok.length === 0) return NaN;
  const mid = ok.length >> 1;
  return ok.length % 2 === 1 ? ok[mid] : (ok[mid - 1] + ok[mid]) / 2;
}

/**
 * A bounded reservoir of latency samples: keeps every sample up to `capacity`, then a uniform
 * random subset (Vitter's algorithm R), so memory stays bounded however long a window runs.
 */
export class LatencyReservoir {
  private readonly values: Float64Array;
  private seen = 0;

  constructor(private readonly capacity = 200_000) {
    this.values = new Float64Array(capacity);
  }

  add(value: number): void {
    if (this.seen < this.capacity) this.values[this.seen] = value;
    else {
      const slot = Math.floor(Math.random() * (this.seen + 1));
      if (slot < this.capacity) this.values[slot] = value;
    }
    this.seen++;
  }

  count(): number {
    return this.seen;
  }

  samples(): Float64Array {
    return this.values.subarray(0, Math.min(this.seen, this.capacity));
  }

  reset(): void {
    this.seen = 0;
  }
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes on one machine. */
export function preciseWallMs(): number {
  return performance.timeOrigin + performance.now();
}
