import type { Logger } from "pino";
import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import type { LivenessClock } from "../../common/clock.js";
import type { RegistryWriter } from "./registry.js";

export interface LivenessThresholds {
  healthyMs: number;
  degradedMs: number;
  evictAfterMs: number;
}

export interface LivenessSweeperOptions extends LivenessThresholds {
  sweepIntervalMs: number;
  shardsPerSweepSlice: number;
  /** Told how long each full sweep took (metrics). */
  onSweep?: (durationMs: number) => void;
}

/** Health a hive deserves for the age of its last report (and whether its stream is open). */
export function healthForAge(ageMs: number, connected: boolean, t: LivenessThresholds): HiveHealth {
  if (ageMs >= t.degradedMs) return HiveHealth.DOWN;
  if (ageMs >= t.healthyMs || !connected) return HiveHealth.DEGRADED;
  return HiveHealth.HEALTHY;
}

/**
 * Marks silent hives DEGRADED, then DOWN, then evicts them, judging by the liveness clock.
 *
 * Runs every sweepIntervalMs, a few shards per event-loop turn (setImmediate between slices),
 * so a large registry never blocks the loop. A sweep never overlaps the next one.
 *
 * Loop-stall rule: when a sweep timer fires later than scheduled, the lateness is the queen's own
 * stall (GC, CPU starvation, a blocked loop), during which reports could not be read. The lateness
 * is credited to every hive through the liveness clock (LivenessClock.addStall), so stalled time
 * never counts towards DEGRADED, DOWN or eviction. A hive silent for longer than the stall is
 * still judged by the rest of its silence.
 */
export class LivenessSweeper {
  private timer: NodeJS.Timeout | undefined;
  private lastTickMs: number | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly registry: RegistryWriter,
    private readonly clock: LivenessClock,
    private readonly opts: LivenessSweeperOptions,
    private readonly logger?: Logger,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.lastTickMs = this.clock.monotonicMs();
    this.schedule();
  }

  /** Stops the timer and waits for a sweep in progress to finish its current slice. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /**
   * One timer tick: credits any lateness of the tick as a queen stall, then sweeps every shard.
   * Exposed so tests can drive the sweeper with a manual clock.
   */
  async tick(): Promise<void> {
    const now = this.clock.monotonicMs();
    if (this.lastTickMs !== undefined) {
      const lateMs = now - this.lastTickMs - this.opts.sweepIntervalMs;
      if (lateMs > 0) {
        this.clock.addStall(lateMs);
        if (lateMs >= this.opts.healthyMs) this.logger?.warn({ lateMs }, "queen event loop stalled; stall not counted against hives");
      }
    }
    const started = this.clock.monotonicMs();
    await this.sweepAll();
    this.opts.onSweep?.(this.clock.monotonicMs() - started);
    // The next tick is due one interval after this sweep ends; the sweep's own duration is not a stall.
    this.lastTickMs = this.clock.monotonicMs();
  }

  /** Sweeps every shard once, yielding to the event loop between slices. */
  async sweepAll(): Promise<void> {
    const slice = Math.max(1, this.opts.shardsPerSweepSlice);
    for (let first = 0; first < this.registry.shardCount; first += slice) {
      if (first > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const end = Math.min(this.registry.shardCount, first + slice);
      for (let shard = first; shard < end; shard++) this.sweepShard(shard);
    }
  }

  /** Applies every due transition in one shard. */
  sweepShard(shard: number): void {
    const now = this.clock.nowMs();
    const evictions: string[] = [];
    const changes: [string, HiveHealth][] = [];
    for (const hive of this.registry.hivesInShard(shard)) {
      // Its owner judges a remote hive; the cluster store tells this queen the outcome.
      if (hive.remote) continue;
      const age = now - hive.lastSeenMs;
      if (age >= this.opts.degradedMs + this.opts.evictAfterMs) {
        evictions.push(hive.hiveId);
        continue;
      }
      // A hive that said goodbye leaving workers running reports nothing until its next hello.
      const health = hive.departure ? HiveHealth.DOWN : healthForAge(age, hive.connected, this.opts);
      if (health !== hive.health) changes.push([hive.hiveId, health]);
    }
    // Mutate after iterating: eviction deletes from the map being walked.
    for (const [hiveId, health] of changes) this.registry.setHealth(hiveId, health);
    for (const hiveId of evictions) {
      this.registry.setHealth(hiveId, HiveHealth.DOWN);
      this.registry.evict(hiveId, "down too long");
    }
    this.registry.expireEndedWorkers(shard);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((err: unknown) => this.logger?.error({ err }, "liveness sweep failed"))
        .finally(() => {
          this.running = undefined;
          this.schedule();
        });
    }, this.opts.sweepIntervalMs);
    this.timer.unref();
  }
}
