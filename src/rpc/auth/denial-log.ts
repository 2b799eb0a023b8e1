import type { Logger } from "pino";

/**
 * Logs a denial once per peer and reason, never per call: a misconfigured hive retrying every
 * second must not flood the log. Remembers at most `capacity` pairs (oldest forgotten first).
 */
export class DenialLog {
  private readonly seen = new Set<string>();

  constructor(
    private readonly logger: Logger,
    private readonly capacity = 10_000,
  ) {}

  denied(peer: string, reason: string, fields: Record<string, unknown> = {}): void {
    const key = `${peer}\u0000${reason}`;
    if (this.seen.has(key)) return;
    if (this.seen.size >= this.capacity) this.seen.delete(this.seen.values().next().value as string);
    this.seen.add(key);
    this.logger.warn({ peer, reason, ...fields }, "access denied (logged once per peer and reason)");
  }
}
