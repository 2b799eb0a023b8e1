import type { LoadCounters } from "./load-stats.js";

/** Send times of reports still waiting for their ack, oldest first (acks come in order on a stream). */
export class PendingAcks {
  private sentAt: number[] = [];
  private head = 0;

  sent(): void {
    this.sentAt.push(performance.now());
  }

  outstanding(): number {
    return this.sentAt.length - this.head;
  }

  /** A new stream: nothing sent on the old one will be acked. */
  reset(): void {
    this.sentAt = [];
    this.head = 0;
  }

  /** The oldest pending report was acked: count it and its latency. */
  acked(counters: LoadCounters): void {
    const sent = this.sentAt[this.head++];
    if (this.head > 256) {
      this.sentAt = this.sentAt.slice(this.head);
      this.head = 0;
    }
    if (sent !== undefined) {
      counters.acked++;
      counters.latency.add(performance.now() - sent);
    }
  }
}
