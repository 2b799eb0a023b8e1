import { LatencyReservoir, summarize, type LatencySummary } from "../lib/stats.js";

/** What a load generator measured over one window. */
export interface WindowStats {
  /** Window length in seconds. */
  seconds: number;
  hives: number;
  connectedHives: number;
  sent: number;
  acked: number;
  /** Reports not sent because the hive already had maxOutstanding reports unanswered. */
  skipped: number;
  streamErrors: number;
  /** acked / seconds. */
  ackRate: number;
  latencyMs: LatencySummary;
  /** CPU seconds this generator process used in the window, per wall second. */
  cpuPerSec: number;
}

/** Counters of one generator, reset per window. */
export class LoadCounters {
  sent = 0;
  acked = 0;
  skipped = 0;
  streamErrors = 0;
  readonly latency = new LatencyReservoir(200_000);
  private startedMs = performance.now();
  private cpuStart = process.cpuUsage();

  /** The stats since the last call (or construction), and starts a new window. */
  take(hives: number, connectedHives: number): WindowStats {
    const now = performance.now();
    const seconds = (now - this.startedMs) / 1000;
    const cpu = process.cpuUsage(this.cpuStart);
    const stats: WindowStats = {
      seconds,
      hives,
      connectedHives,
      sent: this.sent,
      acked: this.acked,
      skipped: this.skipped,
      streamErrors: this.streamErrors,
      ackRate: seconds > 0 ? this.acked / seconds : 0,
      latencyMs: summarize(this.latency.samples()),
      cpuPerSec: seconds > 0 ? (cpu.user + cpu.system) / 1e6 / seconds : 0,
    };
    this.sent = this.acked = this.skipped = this.streamErrors = 0;
    this.latency.reset();
    this.startedMs = now;
    this.cpuStart = process.cpuUsage();
    return stats;
  }

  /** The latency samples of the current window (for merging several generators). */
  samples(): Float64Array {
    return this.latency.samples();
  }
}
