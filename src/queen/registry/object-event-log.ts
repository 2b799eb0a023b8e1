import type { ObjectEvent } from "../../../gen/apiary/v1/queen_pb.js";

export interface ObjectEventLogOptions {
  /** Events kept per object (hive or worker); the oldest go first. Default 50. */
  perObject?: number;
  /** Objects with events kept; the one with the oldest latest event goes first. Default 20 000. */
  maxObjects?: number;
}

export function objectKey(hiveId: string, workerId = ""): string {
  return workerId === "" ? hiveId : `${hiveId}\u0000${workerId}`;
}

/** The hive of a worker's key; undefined for a hive's own key. */
function workerHiveOf(key: string): string | undefined {
  const at = key.indexOf("\u0000");
  return at < 0 ? undefined : key.slice(0, at);
}

interface Entry {
  event: ObjectEvent;
  /** Events with the same reason and key are the same thing happening again. */
  key: string;
}

/** How many of an object's newest events a repeat is looked for in. */
const REPEAT_LOOKBACK = 6;

/**
 * A small bounded event log per object: bounded per object and in number of objects. A repeat of
 * one of the object's newest events (same reason and key) counts up that event instead of adding one.
 */
export class ObjectEventLog {
  private readonly logs = new Map<string, Entry[]>();
  /** The keys of each hive's workers with a log, so a hive's removal does not scan every log. */
  private readonly workerKeys = new Map<string, Set<string>>();
  private readonly perObject: number;
  private readonly maxObjects: number;

  constructor(options: ObjectEventLogOptions = {}) {
    this.perObject = Math.max(1, options.perObject ?? 50);
    this.maxObjects = Math.max(1, options.maxObjects ?? 20_000);
  }

  append(key: string, event: ObjectEvent, repeatKey = event.message): void {
    let log = this.logs.get(key);
    if (log === undefined) {
      log = [];
      const hiveId = workerHiveOf(key);
      if (hiveId !== undefined) {
        let keys = this.workerKeys.get(hiveId);
        if (keys === undefined) this.workerKeys.set(hiveId, (keys = new Set()));
        keys.add(key);
      }
    }
    this.logs.delete(key);
    this.logs.set(key, log); // most recently written last
    const k = `${event.reason}\u0000${repeatKey}`;
    const repeat = log.slice(-REPEAT_LOOKBACK).find((e) => e.key === k);
    if (repeat) {
      repeat.event.count += 1;
      repeat.event.lastAt = event.at;
      repeat.event.message = event.message;
      return;
    }
    event.count = 1;
    event.lastAt = event.at;
    log.push({ event, key: k });
    if (log.length > this.perObject) log.splice(0, log.length - this.perObject);
    for (const oldest of this.logs.keys()) {
      if (this.logs.size <= this.maxObjects) break;
      this.delete(oldest);
    }
  }

  /** The object's events, oldest first; the newest `limit` when limit > 0. */
  list(key: string, limit = 0): ObjectEvent[] {
    const log = (this.logs.get(key) ?? []).map((e) => e.event);
    return limit > 0 ? log.slice(-limit) : log;
  }

  delete(key: string): void {
    if (!this.logs.delete(key)) return;
    const hiveId = workerHiveOf(key);
    if (hiveId === undefined) return;
    const keys = this.workerKeys.get(hiveId);
    keys?.delete(key);
    if (keys?.size === 0) this.workerKeys.delete(hiveId);
  }

  /** Deletes a hive's log and the logs of all its workers. */
  deleteHive(hiveId: string): void {
    this.logs.delete(hiveId);
    for (const key of this.workerKeys.get(hiveId) ?? []) this.logs.delete(key);
    this.workerKeys.delete(hiveId);
  }

  get objects(): number {
    return this.logs.size;
  }
}
