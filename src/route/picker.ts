import { hashText, rendezvousPick } from "./rendezvous-hash.js";
import type { InFlight } from "./in-flight.js";
import type { RouteCandidate } from "./route-candidate.js";

export type RoutePolicy = "least-loaded" | "round-robin";
export const ROUTE_POLICIES: readonly RoutePolicy[] = ["least-loaded", "round-robin"];
/** Why a worker was picked: the `reason` label of apiary_route_picks_total. */
export type PickReason = "least_loaded" | "round_robin" | "prefix" | "session";

export interface PickerOptions {
  policy: RoutePolicy;
  /** Requests whose prompt starts alike go to one worker while its queue is at most prefixMaxWaiting. */
  prefixAffinity: boolean;
  prefixMaxWaiting: number;
  /** … and while it runs at most this many more than the least busy worker (SGLang's balance rule, absolute). */
  prefixMaxImbalance: number;
  /** A worker with more requests waiting than this takes no more; all of them over: 503. */
  maxWaiting?: number;
  /** How long a worker that failed a request is passed over (while any other can take it). */
  ejectMs: number;
  now?: () => number;
}

export interface PickRequest {
  /** The prompt's first characters (prefix affinity). */
  prefix?: string;
  /** The session header's value (session affinity). */
  session?: string;
  /** Workers not to use (the one a retry failed on). */
  exclude?: ReadonlySet<string>;
}

export type PickResult = { worker: RouteCandidate; reason: PickReason } | { worker: undefined; overloaded: boolean };

interface Estimate {
  waiting: number;
  running: number;
  kv: number;
}

const UNKNOWN = Number.POSITIVE_INFINITY;

/**
 * Chooses a worker for one request from memory. Least-loaded compares the engines' readings as
 * FindWorkers' LEAST_LOADED does (fewest waiting, then fewest running, then least KV cache; unknown
 * last), the requests the router sent since that reading counted as waiting (as the informer's
 * pick and the endpoint pickers count them): a burst between two reports spreads instead of
 * landing on the one worker that looked idle. Equal workers take turns.
 */
export class Picker {
  private turn = 0;
  private readonly ejected = new Map<string, number>();
  private readonly workerHashes = new Map<string, number>();
  private readonly now: () => number;

  constructor(
    private readonly opts: PickerOptions,
    private readonly inFlight: InFlight,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** Whether picks look at the prompt's prefix (so callers extract it only then). */
  get usesPrefix(): boolean {
    return this.opts.prefixAffinity;
  }

  /** Passes the worker over for ejectMs: it refused a connection or broke a response. */
  eject(key: string): void {
    // Bounded: entries of workers never seen again would otherwise stay.
    if (this.ejected.size >= 10_000) this.ejected.clear();
    this.ejected.set(key, this.now() + this.opts.ejectMs);
  }

  pick(candidates: readonly RouteCandidate[], req: PickRequest = {}): PickResult {
    const usable = this.usable(candidates, req.exclude);
    if (usable.length === 0) return { worker: undefined, overloaded: false };
    const estimates = new Map<RouteCandidate, Estimate>();
    for (const c of usable) estimates.set(c, this.estimate(c));
    const max = this.opts.maxWaiting;
    const open = max === undefined ? usable : usable.filter((c) => !(estimates.get(c)!.waiting > max && estimates.get(c)!.waiting !== UNKNOWN));
    if (open.length === 0) return { worker: undefined, overloaded: true };

    if (req.session !== undefined && req.session !== "") {
      const worker = rendezvousPick(hashText(req.session), open, (c) => this.workerHash(c.key), () => true)!;
      return { worker, reason: "session" };
    }
    if (this.opts.prefixAffinity && req.prefix) {
      // The engine's own queue decides whether the prefix's worker is over the threshold; the
      // requests sent since its reading count as busy, so a burst between reports overflows too.
      const limit = this.opts.prefixMaxWaiting;
      const busy = (c: RouteCandidate) => (c.load.running ?? UNKNOWN) + this.inFlight.sinceReport(c);
      let leastBusy = UNKNOWN;
      for (const c of open) leastBusy = Math.min(leastBusy, busy(c));
      const busyLimit = leastBusy + this.opts.prefixMaxImbalance;
      const worker = rendezvousPick(hashText(req.prefix), open, (c) => this.workerHash(c.key), (c) => {
        const waiting = c.load.waiting;
        const b = busy(c);
        return (waiting === undefined || waiting <= limit) && (b === UNKNOWN || leastBusy === UNKNOWN || b <= busyLimit);
      });
      if (worker) return { worker, reason: "prefix" };
    }
    if (this.opts.policy === "round-robin") return { worker: open[this.turn++ % open.length], reason: "round_robin" };
    return { worker: this.leastLoaded(open, estimates), reason: "least_loaded" };
  }

  /** Estimated load of a candidate now, for `apiary route`'s debugging and tests. */
  estimate(c: RouteCandidate): Estimate {
    const { waiting, running, kvCacheUsageRatio } = c.load;
    return {
      waiting: waiting === undefined ? UNKNOWN : waiting + this.inFlight.sinceReport(c),
      running: running ?? UNKNOWN,
      kv: kvCacheUsageRatio ?? UNKNOWN,
    };
  }

  private usable(candidates: readonly RouteCandidate[], exclude: ReadonlySet<string> | undefined): RouteCandidate[] {
    const now = this.now();
    const allowed = exclude ? candidates.filter((c) => !exclude.has(c.key)) : [...candidates];
    const healthy = allowed.filter((c) => {
      const until = this.ejected.get(c.key);
      if (until === undefined) return true;
      if (until > now) return false;
      this.ejected.delete(c.key);
      return true;
    });
    return healthy.length > 0 ? healthy : allowed;
  }

  private leastLoaded(open: RouteCandidate[], estimates: Map<RouteCandidate, Estimate>): RouteCandidate {
    let best = estimates.get(open[0])!;
    let ties: RouteCandidate[] = [open[0]];
    for (let i = 1; i < open.length; i++) {
      const e = estimates.get(open[i])!;
      const order = compare(e, best);
      if (order < 0) {
        best = e;
        ties = [open[i]];
      } else if (order === 0) {
        ties.push(open[i]);
      }
    }
    return ties.length === 1 ? ties[0] : ties[this.turn++ % ties.length];
  }

  private workerHash(key: string): number {
    let h = this.workerHashes.get(key);
    if (h === undefined) {
      h = hashText(key);
      if (this.workerHashes.size > 100_000) this.workerHashes.clear();
      this.workerHashes.set(key, h);
    }
    return h;
  }
}

function compare(a: Estimate, b: Estimate): number {
  return cmp(a.waiting, b.waiting) || cmp(a.running, b.running) || cmp(a.kv, b.kv);
}

function cmp(a: number, b: number): number {
  return a === b ? 0 : a < b ? -1 : 1;
}
