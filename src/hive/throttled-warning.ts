import type { Logger } from "pino";

/**
 * Logs a repeating failure without flooding: the first one at warn, then at most
 * one summary per interval carrying how many were suppressed, and one info line
 * when the condition clears.
 */
export class ThrottledWarning {
  private suppressed = 0;
  private lastLoggedAt: number | undefined;
  private failing = false;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records one failure; logs only when due. */
  fail(fields: Record<string, unknown>, message: string): void {
    const now = this.now();
    if (!this.failing || this.lastLoggedAt === undefined || now - this.lastLoggedAt >= this.intervalMs) {
      const repeated = this.suppressed;
      this.logger.warn(this.failing ? { ...fields, repeated } : fields, this.failing ? `${message} (still failing)` : message);
      this.failing = true;
      this.lastLoggedAt = now;
      this.suppressed = 0;
      return;
    }
    this.suppressed += 1;
  }

  /** Ends a run of failures; logs once at info if any were recorded. */
  recover(fields: Record<string, unknown>, message: string): void {
    if (!this.failing) return;
    this.logger.info({ ...fields, suppressed: this.suppressed }, message);
    this.failing = false;
    this.suppressed = 0;
    this.lastLoggedAt = undefined;
  }

  get isFailing(): boolean {
    return this.failing;
  }
}
