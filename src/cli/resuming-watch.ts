import type { Client } from "@connectrpc/connect";
import { ConnectError } from "@connectrpc/connect";
import type { QueenService, WatchRequest, WatchResponse } from "../../gen/apiary/v1/queen_pb.js";
import { Backoff } from "../hive/backoff.js";
import { pause } from "../rpc/wait.js";

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
 */
export async function* resumingWatch(
  client: Client<typeof QueenService>,
  request: WatchRequest,
  opts: ResumeOptions,
): AsyncGenerator<WatchResponse> {
  let since = request.sinceRevision;
  let epoch = request.epoch;
  const backoff = new Backoff({ baseMs: 250, capMs: opts.maxBackoffMs ?? 5000 });
  while (!opts.signal.aborted) {
    let failure: ConnectError | undefined;
    try {
      for await (const res of client.watch({ ...request, sinceRevision: since, epoch }, { signal: opts.signal })) {
        backoff.reset();
        if (!res.snapshot || res.kind.case === "snapshotEnd") {
          since = res.revision;
          epoch = res.epoch;
        }
        yield res;
      }
    } catch (err) {
      if (opts.signal.aborted) return;
      failure = ConnectError.from(err);
    }
    const delay = backoff.next();
    opts.onRetry?.(failure, backoff.failures);
    await pause(delay, opts.signal);
  }
}
