import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { WatchResponseSchema, type WatchResponse } from "../../../gen/apiary/v1/queen_pb.js";
import { StreamAbort } from "../../common/wait.js";
import type { Clock } from "../../common/clock.js";
import { batchResponse, eventResponse, preEncodedEventResponse } from "./shared-event-encoding.js";
import type { WatchHub, WatchParams } from "./watch-hub.js";
import type { PendingChange } from "./watcher-queue.js";
import { encodeResumeToken } from "./watch-resume-ledger.js";

/**
 * The Watch stream: snapshot (or history replay), snapshot_end, then live changes and bookmarks.
 * The generator is only resumed when the client can take more; meanwhile changes coalesce in the
 * watcher's queue. Ends with UNAVAILABLE on server shutdown, RESOURCE_EXHAUSTED if the watcher
 * fell so far behind that its queue overflowed (it resumes from its last revision). All streams
 * share the hub's turn budget, so fan-out yields to heartbeat I/O between slices.
 */
export async function* watchStream(
  hub: WatchHub,
  params: WatchParams,
  clientSignal: AbortSignal,
  shutdownSignal: AbortSignal,
  clock: Clock,
  /** The client reads the binary codec: events may go out pre-encoded, shared with other watchers. */
  binary = true,
): AsyncGenerator<WatchResponse> {
  // A stream the client reset with its HEADERS (HTTP/2 rapid reset) never gets here: every call
  // starts on a later turn, and one gone by then is dropped (src/rpc/call-start-queue.ts).
  if (clientSignal.aborted || shutdownSignal.aborted) return;
  const epoch = hub.registry.epoch;
  const respond = binary ? preEncodedEventResponse : eventResponse;
  const session = hub.open(params);
  // One wake-up per stream: a Promise.race against a long-lived promise would keep every race's reaction (~300 B per wait) until the stream ends.
  const stopped = new StreamAbort([clientSignal, shutdownSignal]);
  const shuttingDown = () => shutdownSignal.aborted || session.queue.isClosed();
  const budget = hub.budget;
  const batch = params.maxBatch;
  /** Numbers a message outside the snapshot and gives it the token that resumes right after it. */
  const stamped = (response: WatchResponse, throughRevision = hub.registry.revision()): WatchResponse => {
    response.resumeToken = encodeResumeToken({ epoch, streamId: session.id, seq: session.ledger.stamp(), throughRevision });
    return response;
  };
  try {
    if (session.snapshot) {
      const events = session.snapshot;
      for (let i = 0; i < events.length; ) {
        if (clientSignal.aborted) return;
        if (shuttingDown()) break;
        const turn = budget.exhausted();
        if (turn) {
          // The turn itself, not a race with the signals: an aborted stream's race resolves at once,
          // and a loop of such awaits never lets the next turn (which refills the budget) start.
          await turn;
          continue;
        }
        if (batch > 0) {
          const chunk = events.slice(i, i + batch).map((event) => ({ event, type: event.type }));
          budget.spend(chunk.length);
          i += chunk.length;
          yield batchResponse(chunk, epoch, true, session.startRevision, binary);
        } else {
          budget.spend(1);
          const event = events[i++];
          yield respond(event, event.type, epoch, true, session.startRevision);
        }
      }
      yield stamped(create(WatchResponseSchema, { revision: BigInt(session.startRevision), epoch, snapshot: true, kind: { case: "snapshotEnd", value: {} } }), session.startRevision);
    }
    let lastSentMs = clock.monotonicMs();
    for (;;) {
      if (shuttingDown()) throw new ConnectError("queen is shutting down", Code.Unavailable);
      if (clientSignal.aborted) return;
      if (session.queue.isOverflowed()) {
        throw new ConnectError("watcher fell too far behind; resume with since_revision", Code.ResourceExhausted);
      }
      const turn = budget.exhausted();
      if (turn) {
        await turn;
        continue;
      }
      const now = clock.monotonicMs();
      session.queue.releaseDue(now);
      // Stamped with the stream's resume point, not an event's own revision: see WatchResponse.revision.
      if (batch > 0) {
        const changes: PendingChange[] = [];
        for (let c = session.queue.take(now); c; c = changes.length < batch ? session.queue.take(now) : undefined) changes.push(c);
        if (changes.length > 0) {
          budget.spend(changes.length);
          yield stamped(batchResponse(changes, epoch, false, session.queue.resumePoint(hub.registry.revision()), binary));
          lastSentMs = clock.monotonicMs();
          continue;
        }
      } else {
        const change = session.queue.take(now);
        if (change) {
          budget.spend(1);
          yield stamped(respond(change.event, change.type, epoch, false, session.queue.resumePoint(hub.registry.revision())));
          lastSentMs = clock.monotonicMs();
          continue;
        }
      }
      const bookmarkDueMs = lastSentMs + params.bookmarkIntervalMs;
      if (now >= bookmarkDueMs) {
        // A bookmark never passes a change still held back by min_update_interval.
        const revision = session.queue.resumePoint(hub.registry.revision());
        yield stamped(create(WatchResponseSchema, { revision: BigInt(revision), epoch, kind: { case: "bookmark", value: {} } }));
        lastSentMs = clock.monotonicMs();
        continue;
      }
      const wakeAt = Math.min(bookmarkDueMs, session.queue.nextReleaseMs() ?? Infinity);
      await stopped.race(session.queue.waitForWork(wakeAt - now));
    }
  } finally {
    stopped.dispose();
    hub.close(session);
  }
}
