import type { Logger } from "pino";
import { Backoff } from "../../common/backoff.js";
import { pause } from "../../common/wait.js";
import type { ClusterStore, QueenMember, QueenSession } from "./cluster-store.js";

export interface QueenLeaseOptions {
  store: ClusterStore;
  member: QueenMember;
  ttlMs: number;
  logger: Logger;
  /** Called once per session, when it opens. */
  onOpen(session: QueenSession): void;
  /** Called once per session, when its lease is lost (not on close). */
  onLost(session: QueenSession, reason: string): void;
  /** Delay between tries to open a session; default 200 ms doubling to 5 s, with jitter. */
  backoff?: Backoff;
}

/**
 * The queen's lease on the cluster store: opens a session, and when its lease is lost, opens a
 * new one, retrying with backoff (each delay capped; tries go on until close()).
 */
export class QueenLease {
  private current: QueenSession | undefined;
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly backoff: Backoff;
  private wakeLost: (() => void) | undefined;
  /** Why there is no session now (for hello refusals). */
  reason = "its cluster session is not open yet";

  constructor(private readonly opts: QueenLeaseOptions) {
    this.backoff = opts.backoff ?? new Backoff({ baseMs: 200, capMs: 5_000 });
  }

  /** The open session, or undefined while there is none. */
  get session(): QueenSession | undefined {
    return this.current && !this.current.lost.aborted ? this.current : undefined;
  }

  /** Starts the loop; resolves after the first try to open a session (success or not). */
  start(): Promise<void> {
    let firstTry!: () => void;
    const tried = new Promise<void>((resolve) => (firstTry = resolve));
    this.loop = this.run(firstTry);
    return tried;
  }

  private async run(firstTry: () => void): Promise<void> {
    const { store, member, ttlMs, logger } = this.opts;
    while (!this.stop.signal.aborted) {
      let session: QueenSession;
      try {
        session = await store.openSession(member, ttlMs);
      } catch (err) {
        this.reason = `cannot open its cluster session: ${(err as Error).message}`;
        logger.warn({ err, queenId: member.queenId, failures: this.backoff.failures + 1 }, "cluster session failed to open");
        firstTry();
        await pause(this.backoff.next(), this.stop.signal).catch(() => {});
        continue;
      }
      if (this.stop.signal.aborted) {
        await session.close().catch(() => {});
        return;
      }
      this.backoff.reset();
      this.current = session;
      logger.info({ queenId: member.queenId, ttlMs }, "cluster session open");
      this.opts.onOpen(session);
      firstTry();
      await new Promise<void>((resolve) => {
        this.wakeLost = resolve;
        if (session.lost.aborted) resolve();
        else session.lost.addEventListener("abort", () => resolve(), { once: true });
      });
      this.wakeLost = undefined;
      if (this.stop.signal.aborted) return;
      this.current = undefined;
      const why = String((session.lost.reason as Error | undefined)?.message ?? session.lost.reason ?? "lease lost");
      this.reason = `lost its cluster lease (${why})`;
      logger.warn({ queenId: member.queenId, reason: why }, "cluster lease lost");
      this.opts.onLost(session, why);
    }
  }

  /** Stops retrying and revokes the lease (this queen's keys go at once). */
  async close(): Promise<void> {
    this.stop.abort();
    this.wakeLost?.();
    await this.loop;
    const session = this.current;
    this.current = undefined;
    if (session) await session.close().catch((err: unknown) => this.opts.logger.warn({ err }, "cluster session close failed"));
  }
}
