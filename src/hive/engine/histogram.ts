import { parseValue, type Sample } from "./prometheus-text.js";

/** A Prometheus histogram summed over its series: upper bounds in seconds (ascending) and cumulative counts. */
export interface Buckets {
  bounds: number[];
  counts: number[];
}

/**
 * Sums `_bucket` samples by their `le` (every other label — model, rank — is summed over).
 * Undefined without a readable bucket. A published histogram may lack its `+Inf` bucket
 * (elided): the largest bound then stands for the total.
 */
export function cumulativeBuckets(samples: readonly Sample[], secondsPerUnit: number): Buckets | undefined {
  const byBound = new Map<number, number>();
  for (const sample of samples) {
    const le = sample.labels.le;
    const bound = le === undefined ? undefined : parseValue(le);
    if (bound === undefined || Number.isNaN(bound) || !Number.isFinite(sample.value)) continue;
    byBound.set(bound, (byBound.get(bound) ?? 0) + sample.value);
  }
  if (byBound.size === 0) return undefined;
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  return { bounds: bounds.map((b) => (Number.isFinite(b) ? b * secondsPerUnit : b)), counts: bounds.map((b) => byBound.get(b)!) };
}

/**
 * The q-quantile (0–1) of the observations made between two readings of the same histogram, in
 * seconds, interpolated linearly inside a bucket as Prometheus' histogram_quantile does.
 * Undefined when nothing was observed in between, the bounds changed, or a count went down (reset).
 */
export function intervalQuantile(before: Buckets, after: Buckets, q: number): number | undefined {
  const n = after.bounds.length;
  if (before.bounds.length !== n || before.bounds.some((b, i) => b !== after.bounds[i])) return undefined;
  const delta = after.counts.map((c, i) => c - before.counts[i]);
  if (delta.some((d) => d < 0)) return undefined;
  for (let i = 1; i < n; i++) if (delta[i] < delta[i - 1]) return undefined; // not cumulative
  return quantile(after.bounds, delta, q);
}

/** histogram_quantile over cumulative counts. */
export function quantile(bounds: readonly number[], counts: readonly number[], q: number): number | undefined {
  const total = counts[counts.length - 1];
  if (!(total > 0)) return undefined;
  const rank = q * total;
  let i = counts.findIndex((c) => c >= rank);
  if (i < 0) i = counts.length - 1;
  const upper = bounds[i];
  const lower = i === 0 ? Math.min(0, upper) : bounds[i - 1];
  if (upper === Infinity) return lower; // the answer is above the highest finite bound: that bound
  const below = i === 0 ? 0 : counts[i - 1];
  const inBucket = counts[i] - below;
  if (inBucket <= 0) return upper;
  return lower + (upper - lower) * ((rank - below) / inBucket);
}
