import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { ConnectError } from "@connectrpc/connect";
import { WatchResponseSchema, type QueenService, type WatchRequest, type WatchResponse } from "../../gen/apiary/v1/queen_pb.js";
import { Backoff } from "../common/backoff.js";
import { pause } from "../common/wait.js";
import { MissedRemovals } from "./missed-removals.js";

/** Events per message the CLI asks for: one report's changes come as one message, not one per worker. */
export const CLI_WATCH_BATCH = 256;

export interface ResumeOptions {
  signal: AbortSignal;
  /**
   * Called before each reconnect with the failure, how many tries in a row failed and the index
   * (in the list of clients) of the queen tried next.
   */
  onRetry?: (err: ConnectError | undefined, failures: number, next: number) => void;
  maxBackoffMs?: number;
}

/**
 * Watch that survives queen restarts, broken connections and, given several queens, the death of
 * its queen: it resumes from the last revision it saw outside a snapshot, first on the next queen
 * of the list at once, then with backoff once every queen failed in a row.
 *
 * A queen that cannot honour the position (another queen's epoch, or a revision older than its
 * history) sends a fresh snapshot; every object the client was told about that this snapshot no
 * longer contains is then yielded as a REMOVED event (carrying its last known state, with
 * snapshot=true and the snapshot_end's revision) just before the snapshot_end, so a caller that
 * prints events sees every removal that happened while it was away.
 *
 * It asks for batches (unless the request sets max_batch) and yields one message per event, as
 * an unbatched Watch would, so callers never see the batch case.
 */
export async function* resumingWatch(
  clients: Client<typeof QueenService> | readonly Client<typeof QueenService>[],
  request: WatchRequest,
  opts: ResumeOptions,
): AsyncGenerator<WatchResponse> {
  const queens = Array.isArray(clients) ? (clients as readonly Client<typeof QueenService>[]) : [clients as Client<typeof QueenService>];
  let current = 0;
  let since = request.sinceRevision;
  let epoch = request.epoch;
  let token = request.resumeToken ?? new Uint8Array();
  let failures = 0;
  const missed = new MissedRemovals();
  const backoff = new Backoff({ baseMs: 250, capMs: Math.max(250, opts.maxBackoffMs ?? 5000) });
  while (!opts.signal.aborted) {
    let failure: ConnectError | undefined;
    missed.streamStarted();
    try {
      const maxBatch = request.maxBatch || CLI_WATCH_BATCH;
      for await (const res of queens[current].watch({ ...request, sinceRevision: since, epoch, resumeToken: token, maxBatch }, { signal: opts.signal })) {
        failures = 0;
        backoff.reset();
        const resumable = !res.snapshot || res.kind.case === "snapshotEnd";
        const messages = res.kind.case === "batch" ? unbatch(res, epoch === res.epoch ? since : 0n) : [res];
        for (const message of messages) {
          yield* missed.observe(message);
          yield message;
        }
        if (resumable) {
          since = res.revision;
          epoch = res.epoch;
          token = res.resumeToken;
        }
      }
    } catch (err) {
      if (opts.signal.aborted) return;
      failure = ConnectError.from(err);
    }
    failures++;
    current = (current + 1) % queens.length;
    opts.onRetry?.(failure, failures, current);
    // The next queen at once; the backoff only once each has failed in a row.
    if (failures % queens.length === 0) await pause(backoff.next(), opts.signal);
  }
}

/**
 * A batch as the messages an unbatched Watch would have sent. Every revision stays a safe resume
 * point: the events before the last carry the resume point before the batch, the last the batch's.
 */
export function* unbatch(batch: WatchResponse, before: bigint): Generator<WatchResponse> {
  if (batch.kind.case !== "batch") return;
  const events = batch.kind.value.events;
  for (let i = 0; i < events.length; i++) {
    const kind = events[i].kind;
    if (kind.case === undefined) continue;
    const revision = batch.snapshot || i === events.length - 1 ? batch.revision : before;
    yield create(WatchResponseSchema, { revision, epoch: batch.epoch, snapshot: batch.snapshot, kind });
  }
}
