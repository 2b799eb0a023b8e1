import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { ConnectError } from "@connectrpc/connect";
import { WatchResponseSchema, type QueenService, type WatchRequest, type WatchResponse } from "../../gen/apiary/v1/queen_pb.js";
import { Backoff } from "../rpc/backoff.js";
import { pause } from "../rpc/wait.js";

/** Events per message the CLI asks for: one report's changes come as one message, not one per worker. */
export const CLI_WATCH_BATCH = 256;

export interface ResumeOptions {
  signal: AbortSignal;
  /** Called before each reconnect with the failure and how many tries in a row failed. */
  onRetry?: (err: ConnectError | undefined, failures: number) => void;
  maxBackoffMs?: number;
}

/**
 * Watch that survives queen restarts and broken connections: it reconnects with
 * backoff and resumes from the last revision it saw outside a snapshot (a new
 * queen epoch or a too-old revision makes the queen send a fresh snapshot).
 * It asks for batches (unless the request sets max_batch) and yields one message per event, as
 * an unbatched Watch would, so callers never see the batch case.
 */
export async function* resumingWatch(
  client: Client<typeof QueenService>,
  request: WatchRequest,
  opts: ResumeOptions,
): AsyncGenerator<WatchResponse> {
  let since = request.sinceRevision;
  let epoch = request.epoch;
  let failures = 0;
  const backoff = new Backoff({ baseMs: 250, capMs: Math.max(250, opts.maxBackoffMs ?? 5000) });
  while (!opts.signal.aborted) {
    let failure: ConnectError | undefined;
    try {
      const maxBatch = request.maxBatch || CLI_WATCH_BATCH;
      for await (const res of client.watch({ ...request, sinceRevision: since, epoch, maxBatch }, { signal: opts.signal })) {
        failures = 0;
        backoff.reset();
        const resumable = !res.snapshot || res.kind.case === "snapshotEnd";
        if (res.kind.case === "batch") yield* unbatch(res, epoch === res.epoch ? since : 0n);
        else yield res;
        if (resumable) {
          since = res.revision;
          epoch = res.epoch;
        }
      }
    } catch (err) {
      if (opts.signal.aborted) return;
      failure = ConnectError.from(err);
    }
    failures++;
    opts.onRetry?.(failure, failures);
    await pause(backoff.next(), opts.signal);
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
