import { Code } from "@connectrpc/connect";
import type { EarlyRefusal } from "./early-refusal.js";

/**
 * Counts the open streams of some long-lived methods (Watch, StreamWorkerLogs, Health.Watch) per
 * peer address, and refuses one more over the cap with RESOURCE_EXHAUSTED naming the cap: a peer
 * cannot pile up server-side watchers (each with its buffers and timers) without bound.
 */
export class PerPeerStreamCaps {
  private readonly open = new Map<string, number>();
  private readonly paths: ReadonlySet<string>;

  constructor(
    paths: Iterable<string>,
    private readonly limit: number,
    /** How an operator changes the cap, for the message ("--max-streams-per-peer"). */
    private readonly setting = "maxStreamsPerPeer",
  ) {
    this.paths = new Set(paths);
  }

  /** A release function to call once when the stream ends, or the refusal. */
  admit(path: string, address: string): (() => void) | EarlyRefusal {
    if (!this.paths.has(path)) return noop;
    const key = `${address} ${path}`;
    const count = this.open.get(key) ?? 0;
    if (count >= this.limit) {
      return {
        code: Code.ResourceExhausted,
        message: `too many concurrent ${path.slice(1)} streams from ${address}: the cap is ${this.limit} per peer address (${this.setting})`,
      };
    }
    this.open.set(key, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(key) ?? 1) - 1;
      if (left <= 0) this.open.delete(key);
      else this.open.set(key, left);
    };
  }

  /** Open capped streams of this peer and method (for tests and metrics). */
  count(path: string, address: string): number {
    return this.open.get(`${address} ${path}`) ?? 0;
  }
}

const noop = (): void => undefined;
