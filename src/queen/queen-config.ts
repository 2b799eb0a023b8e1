/**
 * Every tunable of the queen; the flags that set them are in docs/cli-reference.md. Why the defaults:
 * a hive reports every 1 s, so 3 s (three missed reports) is the first sign of trouble (DEGRADED) and
 * 10 s, a restart's worth, is DOWN; a DOWN hive is kept 60 s more so a rebooting host comes back with
 * its history instead of as a new hive. The sweep runs every 250 ms, 4 of the 16 shards per turn,
 * so no sweep holds the event loop for long. 10,000 retained events cover a reconnecting Watch of a
 * few seconds on a busy cluster; bookmarks every 10 s (at least 100 ms apart) tell an idle watcher
 * the revision it is at; ended workers stay listed 15 min so an operator can still see why they ended.
 */
export interface QueenConfig {
  /** Number of registry shards (hash of hive_id). */
  shards: number;
  /** Report interval announced to hives in the welcome. */
  reportIntervalMs: number;
  /** A hive whose last report is younger than this is HEALTHY. */
  healthyMs: number;
  /** Younger than this (and not HEALTHY) is DEGRADED; older is DOWN. */
  degradedMs: number;
  /** A DOWN hive is evicted this long after it went DOWN (last report older than degradedMs + evictAfterMs). */
  evictAfterMs: number;
  /** How often the liveness sweep runs over every shard. */
  sweepIntervalMs: number;
  /** Shards swept per event-loop turn; the sweep yields between slices. */
  shardsPerSweepSlice: number;
  /** Events retained for Watch resume (ring buffer). */
  historySize: number;
  /** Default bookmark interval for watchers that do not ask for one. */
  bookmarkIntervalMs: number;
  /** Smallest bookmark interval a watcher may ask for (smaller requests are raised to it). */
  minBookmarkIntervalMs: number;
  /**
   * A watcher whose undelivered events exceed this many keys is ended with RESOURCE_EXHAUSTED
   * (it resumes from its last revision). Coalescing keeps a stalled watcher at one entry per live
   * object, so this only trips under heavy churn of removed objects.
   */
  watcherMaxPending: number;
  /** Largest request message accepted, in bytes. */
  maxMessageBytes: number;
  /** How long an ended worker (EXITED, FAILED) stays listed after its hive stops reporting it. */
  endedWorkerRetentionMs: number;
}

export const DEFAULT_QUEEN_CONFIG: Readonly<QueenConfig> = Object.freeze({
  shards: 16,
  reportIntervalMs: 1_000,
  healthyMs: 3_000,
  degradedMs: 10_000,
  evictAfterMs: 60_000,
  sweepIntervalMs: 250,
  shardsPerSweepSlice: 4,
  historySize: 10_000,
  bookmarkIntervalMs: 10_000,
  minBookmarkIntervalMs: 100,
  watcherMaxPending: 200_000,
  maxMessageBytes: 4 * 1024 * 1024,
  endedWorkerRetentionMs: 15 * 60_000,
});

/** Fills in defaults and rejects settings that cannot work. */
export function resolveQueenConfig(partial: Partial<QueenConfig> = {}): QueenConfig {
  const config: QueenConfig = { ...DEFAULT_QUEEN_CONFIG };
  for (const [key, value] of Object.entries(partial)) {
    if (value !== undefined && key in config) (config as unknown as Record<string, number>)[key] = value as number;
  }
  for (const [key, value] of Object.entries(config)) {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`queen config ${key}: must be a positive number, got ${value}`);
  }
  if (!Number.isInteger(config.shards) || config.shards > 4096) throw new Error(`queen config shards: must be an integer 1..4096`);
  if (config.degradedMs < config.healthyMs) throw new Error(`queen config degradedMs: must be >= healthyMs`);
  if (!Number.isInteger(config.historySize)) throw new Error(`queen config historySize: must be an integer`);
  return config;
}
