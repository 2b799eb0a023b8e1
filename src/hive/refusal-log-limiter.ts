/** Lines per peer: a burst, then a steady rate; and the same across all peers together. */
export interface RefusalLogLimits {
  perPeerBurst: number;
  perPeerPerSecond: number;
  totalBurst: number;
  totalPerSecond: number;
  /** Peers remembered; the least recently refused is forgotten first. */
  maxPeers: number;
  /** Peers named in one summary (the loudest); the rest share one "other peers" line. */
  summaryPeers: number;
}

export const DEFAULT_REFUSAL_LOG_LIMITS: RefusalLogLimits = { perPeerBurst: 10, perPeerPerSecond: 1, totalBurst: 100, totalPerSecond: 20, maxPeers: 1_024, summaryPeers: 20 };

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Decides which refused writes get an audit line: token buckets per peer and in all. A refusal
 * left out is counted, and the count rides on the peer's next line that is let through
 * (`suppressed`), or is reported by `drainSuppressed` for peers quiet or forgotten since (a summary line).
 * Stops: an unauthenticated client filling the hive's disk or drowning its log with one line per
 * refused SpawnWorker, at no cost of its own.
 */
export class RefusalLogLimiter {
  private readonly peers = new Map<string, Bucket & { suppressed: number }>();
  private readonly total: Bucket;
  /** Left out for peers forgotten since (over maxPeers) before their count was reported. */
  private forgotten = 0;

  constructor(
    private readonly limits: RefusalLogLimits = DEFAULT_REFUSAL_LOG_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.total = { tokens: limits.totalBurst, at: now() };
  }

  /** Undefined: leave this refusal out. Else the refusals of this peer left out since its last line. */
  admit(peer: string): { suppressed: number } | undefined {
    const t = this.now();
    let state = this.peers.get(peer);
    if (state) this.peers.delete(peer); // re-inserted last: Map order is recency
    else state = { tokens: this.limits.perPeerBurst, at: t, suppressed: 0 };
    this.peers.set(peer, state);
    this.forgetOverCap();
    const peerHas = take(state, t, this.limits.perPeerBurst, this.limits.perPeerPerSecond, false);
    if (!peerHas || !take(this.total, t, this.limits.totalBurst, this.limits.totalPerSecond, true)) {
      state.suppressed++;
      return undefined;
    }
    state.tokens -= 1;
    const suppressed = state.suppressed;
    state.suppressed = 0;
    return { suppressed };
  }

  /**
   * Peers with refusals left out and none let through since, each reported once and reset: the
   * `summaryPeers` loudest by name, every other one (and those forgotten) in one "other peers"
   * entry, so a summary is at most summaryPeers + 1 lines however many addresses flood.
   */
  drainSuppressed(): { peer: string; suppressed: number }[] {
    const loud: { peer: string; suppressed: number }[] = [];
    for (const [peer, state] of this.peers) {
      if (state.suppressed === 0) continue;
      loud.push({ peer, suppressed: state.suppressed });
      state.suppressed = 0;
    }
    loud.sort((a, b) => b.suppressed - a.suppressed);
    const named = loud.slice(0, this.limits.summaryPeers);
    const others = loud.slice(this.limits.summaryPeers).reduce((n, p) => n + p.suppressed, this.forgotten);
    this.forgotten = 0;
    if (others > 0) named.push({ peer: "other peers", suppressed: others });
    return named;
  }

  /** Peers remembered (bounded by maxPeers). */
  get size(): number {
    return this.peers.size;
  }

  private forgetOverCap(): void {
    while (this.peers.size > this.limits.maxPeers) {
      const [oldest, state] = this.peers.entries().next().value as [string, { suppressed: number }];
      this.forgotten += state.suppressed;
      this.peers.delete(oldest);
    }
  }
}

/** Refills by elapsed time; `spend` takes the token now (the per-peer one is taken by the caller after both checks). */
function take(bucket: Bucket, t: number, burst: number, perSecond: number, spend: boolean): boolean {
  bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.at) / 1000) * perSecond);
  bucket.at = t;
  if (bucket.tokens < 1) return false;
  if (spend) bucket.tokens -= 1;
  return true;
}
