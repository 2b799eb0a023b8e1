import type { Logger } from "pino";
import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import type { Clock } from "../../common/clock.js";
import type { ClusterStore } from "./cluster-store.js";
import type { StoreState } from "./store-state.js";

export interface OrphanJudgeOptions {
  store: ClusterStore;
  state: StoreState;
  clock: Clock;
  logger: Logger;
  /** DOWN this long after the owner went (QueenConfig.degradedMs). */
  downAfterMs: number;
  /** Evicted this long after DOWN (QueenConfig.evictAfterMs). */
  evictAfterMs: number;
  /** How often orphans are judged. */
  checkEveryMs: number;
  /** False while the store watch is not running: a frozen cache judges nothing. */
  judging(): boolean;
}

/**
 * Hives whose owner key disappeared (their queen's lease expired and nobody claimed them) are
 * judged by every queen from the moment it saw the owner go: DOWN after downAfterMs, evicted
 * evictAfterMs later. The store's compares (owner absent, hive modRevision) make exactly one
 * queen's write win; the others see the outcome through the watch. At most one write per orphan
 * is in flight.
 */
export class OrphanJudge {
  private readonly since = new Map<string, number>();
  private readonly writing = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** writeOrphan calls made (metrics). */
  writes = 0;

  constructor(private readonly opts: OrphanJudgeOptions) {}

  /** Called for every hive whose store state changed: starts or stops judging it. */
  note(hiveId: string): void {
    const { state } = this.opts;
    const orphan = state.hives.has(hiveId) && !state.owners.has(hiveId);
    if (!orphan) this.since.delete(hiveId);
    else if (!this.since.has(hiveId)) {
      this.since.set(hiveId, this.opts.clock.monotonicMs());
      this.opts.logger.info({ hiveId }, "hive orphaned: no queen holds it");
    }
  }

  count(): number {
    return this.since.size;
  }

  start(): void {
    this.timer = setInterval(() => this.check(), this.opts.checkEveryMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass over the orphans (the timer's; exposed for tests). */
  check(): void {
    if (!this.opts.judging()) return;
    const now = this.opts.clock.monotonicMs();
    for (const [hiveId, since] of this.since) {
      if (this.writing.has(hiveId)) continue;
      const record = this.opts.state.hives.get(hiveId);
      if (!record) continue;
      const age = now - since;
      if (age >= this.opts.downAfterMs + this.opts.evictAfterMs) this.write(hiveId, record.modRevision, "evict");
      else if (age >= this.opts.downAfterMs && (record.value.health !== HiveHealth.DOWN || record.value.connected)) this.write(hiveId, record.modRevision, "down");
    }
  }

  private write(hiveId: string, expectedModRevision: number, what: "down" | "evict"): void {
    const { store, state, logger, clock } = this.opts;
    const record = state.hives.get(hiveId)!.value;
    const value = what === "evict" ? undefined : { ...record, health: HiveHealth.DOWN, connected: false, changedAtWallMs: clock.wallMs() };
    this.writing.add(hiveId);
    this.writes++;
    store
      .writeOrphan(hiveId, expectedModRevision, value)
      .then((outcome) => {
        if (outcome.ok) {
          state.noteHive(hiveId, value, outcome.revision);
          if (!value) this.since.delete(hiveId);
          logger.info({ hiveId, revision: outcome.revision }, what === "evict" ? "orphan hive evicted" : "orphan hive marked DOWN");
        } else {
          state.noteCurrent(hiveId, outcome.currentOwner, outcome.currentHive);
          this.note(hiveId);
        }
      })
      .catch((err: unknown) => logger.warn({ err, hiveId }, "orphan hive write failed"))
      .finally(() => this.writing.delete(hiveId));
  }
}
