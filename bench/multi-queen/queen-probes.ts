import { createClient, type Client } from "@connectrpc/connect";
import { EventType, HiveHealth, QueenService, WatchKind, type WatchResponse } from "../../gen/apiary/v1/queen_pb.js";
import type { WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { sentAtFromWorker } from "../load/telemetry-model.js";
import { preciseWallMs } from "../lib/stats.js";

export type QueenClient = Client<typeof QueenService>;
const MAX_ARRIVALS = 200_000;

export function queenClient(address: string): QueenClient {
  return createClient(QueenService, createApiaryTransport(`http://${address}`, { pingIntervalMs: 60_000 }));
}

export interface HiveView {
  owner: string;
  connected: boolean;
  health: HiveHealth;
}

/** Every hive as one queen lists it: the queen holding its stream, connected, health. */
export async function hivesAt(client: QueenClient, timeoutMs = 5_000): Promise<Map<string, HiveView>> {
  const { hives } = await client.listHives({ omitWorkers: true }, { timeoutMs });
  return new Map(hives.map((h) => [h.info?.hiveId ?? "", { owner: h.ownerQueenId, connected: h.connected, health: h.health }]));
}

/** Runs `body` on every event of a Watch stream, flattening batches; skips the snapshot. Resolves `ready` at its end. */
function followWatch(client: QueenClient, request: Parameters<QueenClient["watch"]>[0], signal: AbortSignal, body: (res: WatchResponse, e: { kind: WatchResponse["kind"] }) => void) {
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const done = (async () => {
    for await (const res of client.watch({ maxBatch: 256, ...request }, { signal })) {
      if (res.kind.case === "snapshotEnd") markReady();
      if (res.snapshot) continue;
      if (res.kind.case === "batch") for (const e of res.kind.value.events) body(res, e as unknown as { kind: WatchResponse["kind"] });
      else body(res, res);
    }
  })();
  return { ready, done };
}

/**
 * When each report of some hives' workers reached a queen's Watch: key hive/worker/send time (the
 * simulated report carries its send time in started_at + uptime) → arrival (wall clock, ms).
 */
export class WorkerArrivals {
  readonly arrivals = new Map<string, number>();
  errors = 0;
  private readonly abort = new AbortController();
  private run: { ready: Promise<void>; done: Promise<void> } | undefined;

  constructor(private readonly client: QueenClient, private readonly hiveIds: string[]) {}

  /** Opens the Watch; resolves once its snapshot is over (at most timeoutMs). */
  async start(timeoutMs = 30_000): Promise<void> {
    this.run = followWatch(this.client, { hiveIds: this.hiveIds, kinds: [WatchKind.WORKER] }, this.abort.signal, (_res, e) => {
      if (e.kind.case === "worker") this.note(e.kind.value.hiveId, e.kind.value.worker);
    });
    this.run.done.catch(() => {
      if (!this.abort.signal.aborted) this.errors++;
    });
    await withDeadline(this.run.ready, timeoutMs, "worker Watch snapshot");
  }

  private note(hiveId: string, worker: WorkerTelemetry | undefined): void {
    const sent = worker ? sentAtFromWorker(worker) : undefined;
    if (!worker || sent === undefined || this.arrivals.size >= MAX_ARRIVALS) return;
    const key = `${hiveId}/${worker.workerId}/${sent.toFixed(3)}`;
    if (!this.arrivals.has(key)) this.arrivals.set(key, preciseWallMs());
  }

  clear(): void {
    this.arrivals.clear();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.run?.done.catch(() => {});
  }
}

/** For every report both saw: how much later `other` showed it than `owner`, ms; and each one's age at arrival. */
export function compareArrivals(owner: Map<string, number>, other: Map<string, number>): { lagMs: number[]; ownerAgeMs: number[]; otherAgeMs: number[]; unseenAtOther: number } {
  const lagMs: number[] = [];
  const ownerAgeMs: number[] = [];
  const otherAgeMs: number[] = [];
  let unseenAtOther = 0;
  for (const [key, atOwner] of owner) {
    const sent = Number(key.slice(key.lastIndexOf("/") + 1));
    ownerAgeMs.push(atOwner - sent);
    const atOther = other.get(key);
    if (atOther === undefined) {
      unseenAtOther++;
      continue;
    }
    lagMs.push(atOther - atOwner);
    otherAgeMs.push(atOther - sent);
  }
  return { lagMs, ownerAgeMs, otherAgeMs, unseenAtOther };
}

/**
 * A Watch of every hive and worker at one queen, counting what a scheduler must never see while a
 * queen fails over: hives of `watched` going DOWN or REMOVED, their workers REMOVED (DEGRADED is
 * counted apart: a broken stream is DEGRADED until its hive is back).
 */
export class ChurnWatch {
  down = 0;
  removed = 0;
  workersRemoved = 0;
  degraded = 0;
  errors = 0;
  watched = new Set<string>();
  private readonly abort = new AbortController();
  private run: { ready: Promise<void>; done: Promise<void> } | undefined;

  constructor(private readonly client: QueenClient) {}

  async start(timeoutMs = 30_000): Promise<void> {
    this.run = followWatch(this.client, { kinds: [WatchKind.HIVE, WatchKind.WORKER] }, this.abort.signal, (_res, e) => {
      if (e.kind.case === "hive") {
        const { type, hive } = e.kind.value;
        if (!this.watched.has(hive?.info?.hiveId ?? "")) return;
        if (type === EventType.REMOVED) this.removed++;
        else if (hive?.health === HiveHealth.DOWN) this.down++;
        else if (hive?.health === HiveHealth.DEGRADED) this.degraded++;
      } else if (e.kind.case === "worker" && e.kind.value.type === EventType.REMOVED && this.watched.has(e.kind.value.hiveId)) {
        this.workersRemoved++;
      }
    });
    this.run.done.catch(() => {
      if (!this.abort.signal.aborted) this.errors++;
    });
    await withDeadline(this.run.ready, timeoutMs, "hive Watch snapshot");
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.run?.done.catch(() => {});
  }
}

/** The same FindWorkers queries, one at a time, alternating between two queens: each one's latencies, ms. */
export async function findWorkersAtBoth(a: QueenClient, b: QueenClient, queries: Parameters<QueenClient["findWorkers"]>[0][], rounds: number): Promise<{ a: number[]; b: number[]; matchesA: number; matchesB: number }> {
  const out = { a: [] as number[], b: [] as number[], matchesA: 0, matchesB: 0 };
  for (let i = 0; i < rounds; i++) {
    const query = queries[i % queries.length];
    // Alternate which goes first, so neither always finds the other's caches warm.
    for (const which of i % 2 === 0 ? (["a", "b"] as const) : (["b", "a"] as const)) {
      const t0 = performance.now();
      const res = await (which === "a" ? a : b).findWorkers(query, { timeoutMs: 5_000 });
      out[which].push(performance.now() - t0);
      if (which === "a") out.matchesA += res.matches.length;
      else out.matchesB += res.matches.length;
    }
  }
  return out;
}

export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
