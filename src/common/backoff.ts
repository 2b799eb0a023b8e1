/** Exponential backoff with full jitter: each delay is uniform in [0, min(cap, base·2^attempt)). */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions) {
    if (!(options.baseMs > 0) || !(options.capMs >= options.baseMs)) {
      throw new RangeError(`backoff: need 0 < baseMs <= capMs, got ${options.baseMs} and ${options.capMs}`);
    }
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next try; each call widens the window until it reaches the cap. */
  next(): number {
    const ceiling = Math.min(this.options.capMs, this.options.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return Math.floor(this.random() * ceiling);
  }

  /** Failures in a row since the last reset. */
  get failures(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
