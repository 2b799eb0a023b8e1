import type { Client } from "@connectrpc/connect";
import { ConnectError } from "@connectrpc/connect";
import type { QueenService, WatchRequest, WatchResponse } from "../../gen/apiary/v1/queen_pb.js";

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
  let failures = 0;
  const maxBackoffMs = opts.maxBackoffMs ?? 5000;
  while (!opts.signal.aborted) {
    let failure: ConnectError | undefined;
    try {
      for await (const res of client.watch({ ...request, sinceRevision: since, epoch }, { signal: opts.signal })) {
        failures = 0;
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
    failures++;
    opts.onRetry?.(failure, failures);
    const backoff = Math.min(maxBackoffMs, 250 * 2 ** Math.min(failures - 1, 8)) * (0.5 + Math.random() / 2);
    await abortableDelay(backoff, opts.signal);
  }
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
