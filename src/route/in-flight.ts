import type { RouteCandidate } from "./route-candidate.js";

interface WorkerCount {
  /** The candidate's reportMark when the count below started. */
  mark: string;
  /** Requests sent since that reading and still open: the reading does not know them yet. */
  sinceReport: number;
  /** Every request open on the worker. */
  open: number;
}

/** A request the router has open on a worker; `end()` once, when it finishes either way. */
export interface InFlightTicket {
  end(): void;
}

/**
 * The router's own requests per worker, between the engine's reports. A reading counts the
 * requests that were open when it was sampled, so only those sent after it adjust it: a new
 * reading starts the count again. Entries go when their last request ends.
 */
export class InFlight {
  private readonly counts = new Map<string, WorkerCount>();

  /** Requests sent to `c` that its current reading does not include. */
  sinceReport(c: RouteCandidate): number {
    const count = this.counts.get(c.key);
    if (!count) return 0;
    if (count.mark !== c.reportMark) {
      count.mark = c.reportMark;
      count.sinceReport = 0;
    }
    return count.sinceReport;
  }

  open(key: string): number {
    return this.counts.get(key)?.open ?? 0;
  }

  start(c: RouteCandidate): InFlightTicket {
    let count = this.counts.get(c.key);
    if (!count) {
      count = { mark: c.reportMark, sinceReport: 0, open: 0 };
      this.counts.set(c.key, count);
    }
    this.sinceReport(c);
    count.sinceReport++;
    count.open++;
    const mark = count.mark;
    let ended = false;
    return {
      end: () => {
        if (ended) return;
        ended = true;
        const now = this.counts.get(c.key);
        if (!now) return;
        now.open--;
        if (now.mark === mark && now.sinceReport > 0) now.sinceReport--;
        if (now.open <= 0) this.counts.delete(c.key);
      },
    };
  }
}
