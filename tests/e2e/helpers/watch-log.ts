import type { Client } from "@connectrpc/connect";
import { EventType, HiveHealth, type QueenService, type WatchResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../../gen/apiary/v1/telemetry_pb.js";

/** Every message of one Watch stream, kept in arrival order, with a way to await a matching one. */
export class WatchLog {
  readonly messages: WatchResponse[] = [];
  private readonly abort = new AbortController();
  private waiters: { match: (m: WatchResponse) => boolean; resolve: (m: WatchResponse) => void }[] = [];
  readonly done: Promise<unknown>;

  constructor(client: Client<typeof QueenService>, hiveIds: string[] = []) {
    this.done = (async () => {
      for await (const m of client.watch({ hiveIds }, { signal: this.abort.signal })) {
        this.messages.push(m);
        for (const w of [...this.waiters]) {
          if (w.match(m)) {
            this.waiters = this.waiters.filter((x) => x !== w);
            w.resolve(m);
          }
        }
      }
    })().catch((err: unknown) => err);
  }

  /** The first message (already received or future) that matches; rejects after timeoutMs. */
  waitFor(match: (m: WatchResponse) => boolean, what: string, timeoutMs = 30_000): Promise<WatchResponse> {
    const seen = this.messages.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`watch: no ${what} within ${timeoutMs} ms; saw:\n${this.messages.slice(-15).map(describe).join("\n")}`));
      }, timeoutMs);
      const done = (m: WatchResponse) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  close(): void {
    this.abort.abort();
  }
}

export function hiveHealthIs(hiveId: string, health: HiveHealth) {
  return (m: WatchResponse) =>
    m.kind.case === "hive" && m.kind.value.hive?.info?.hiveId === hiveId && m.kind.value.hive.health === health;
}

export function workerEvent(workerId: string, type: EventType, state?: WorkerState) {
  return (m: WatchResponse) =>
    m.kind.case === "worker" &&
    m.kind.value.worker?.workerId === workerId &&
    m.kind.value.type === type &&
    (state === undefined || m.kind.value.worker.state === state);
}

export function hiveRemoved(hiveId: string) {
  return (m: WatchResponse) =>
    m.kind.case === "hive" && m.kind.value.type === EventType.REMOVED && m.kind.value.hive?.info?.hiveId === hiveId;
}

export function describe(m: WatchResponse): string {
  switch (m.kind.case) {
    case "hive":
      return `${m.revision} hive ${EventType[m.kind.value.type]} ${m.kind.value.hive?.info?.hiveId} ${HiveHealth[m.kind.value.hive?.health ?? 0]}`;
    case "worker":
      return `${m.revision} worker ${EventType[m.kind.value.type]} ${m.kind.value.worker?.workerId} ${WorkerState[m.kind.value.worker?.state ?? 0]}`;
    default:
      return `${m.revision} ${m.kind.case}`;
  }
}
