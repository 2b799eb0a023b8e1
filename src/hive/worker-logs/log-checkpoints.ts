import { statSync } from "node:fs";

export interface LogCheckpointsOptions {
  /** Checkpoints kept per log; when full, every other one is dropped (coarser, still never late). Default 2048. */
  maxPerLog?: number;
  /** Logs tracked; the least recently grown is forgotten first. Default 4096. */
  maxLogs?: number;
}

interface Track {
  /** Wall-clock ms of each checkpoint, ascending. */
  atMs: number[];
  /** File size at that time. */
  sizes: number[];
}

/**
 * Raw worker logs carry no time per line, and the worker writes its log itself (so it outlives a
 * hive restart): the hive cannot stamp lines. Instead it records, at each tick, the size of every
 * worker's log whenever it changed. "Output since T" then starts at the size recorded by the last
 * checkpoint at or before T: nothing written after T is left out, and at most one tick of older
 * output comes with it. Bounded per log and in number of logs; kept in memory only (after a hive
 * restart, `since` falls back to the whole log unless the file was not written since T).
 */
export class LogCheckpoints {
  private readonly tracks = new Map<string, Track>();
  private readonly maxPerLog: number;
  private readonly maxLogs: number;

  constructor(options: LogCheckpointsOptions = {}) {
    this.maxPerLog = Math.max(2, options.maxPerLog ?? 2048);
    this.maxLogs = Math.max(1, options.maxLogs ?? 4096);
  }

  /** Stats each log and records its size if it changed; unreadable files are skipped. */
  observe(paths: Iterable<string>, nowMs = Date.now()): void {
    for (const path of paths) {
      if (path === "") continue;
      let size: number;
      try {
        size = statSync(path).size;
      } catch {
        continue;
      }
      this.record(path, size, nowMs);
    }
  }

  record(path: string, size: number, atMs: number): void {
    let track = this.tracks.get(path);
    const last = track?.sizes.at(-1);
    if (track && last === size) return;
    if (!track || (last !== undefined && size < last)) {
      // New log, or truncated: earlier offsets no longer mean anything.
      track = { atMs: [], sizes: [] };
    }
    this.tracks.delete(path);
    this.tracks.set(path, track); // most recently grown last
    track.atMs.push(atMs);
    track.sizes.push(size);
    if (track.atMs.length > this.maxPerLog) {
      // Keep the newest and every other older one: resolution halves, the bound holds.
      const keep = (_: number, i: number, all: number[]): boolean => (all.length - 1 - i) % 2 === 0;
      track.atMs = track.atMs.filter(keep);
      track.sizes = track.sizes.filter(keep);
    }
    for (const oldest of this.tracks.keys()) {
      if (this.tracks.size <= this.maxLogs) break;
      this.tracks.delete(oldest);
    }
  }

  /**
   * The offset from which everything written at or after `sinceMs` lies, given the file's current
   * size and mtime. 0 when the hive has no checkpoint that old (it cannot tell, so it sends all).
   */
  offsetSince(path: string, sinceMs: number, size: number, mtimeMs: number): number {
    if (mtimeMs < sinceMs) return size;
    const track = this.tracks.get(path);
    if (!track) return 0;
    let found = -1;
    for (let i = track.atMs.length - 1; i >= 0; i--) {
      if (track.atMs[i] <= sinceMs) {
        found = i;
        break;
      }
    }
    if (found < 0) return 0;
    const offset = track.sizes[found];
    return offset <= size ? offset : 0;
  }

  /** Checkpoints held for a log (tests, bounds). */
  count(path: string): number {
    return this.tracks.get(path)?.atMs.length ?? 0;
  }

  get logs(): number {
    return this.tracks.size;
  }
}
