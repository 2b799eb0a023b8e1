import { create } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import { FollowHeldHivesResponseSchema, type FollowHeldHivesRequest, type FollowHeldHivesResponse, type QueenPeerService } from "../../../gen/apiary/v1/queen_peer_pb.js";
import { pause } from "../../common/wait.js";
import type { RegistryReadView } from "../registry/registry.js";
import type { PeerPublisher } from "./peer-publisher.js";

export const DEFAULT_PEER_FLUSH_INTERVAL_MS = 250;
const MIN_FLUSH_INTERVAL_MS = 10;
/** Hives per message: a snapshot of thousands of hives goes in several messages. */
const HIVES_PER_MESSAGE = 256;

export interface QueenPeerServiceDeps {
  registry: RegistryReadView;
  /** This queen's id; undefined until it is known (the stream is refused meanwhile). */
  queenId(): string | undefined;
  /** True for a hive whose stream this queen holds. */
  holds(hiveId: string): boolean;
  shutdownSignal: AbortSignal;
  logger: Logger;
}

/** apiary.v1.QueenPeerService: the telemetry of the hives this queen holds, for the other queens. */
export function createQueenPeerService(deps: QueenPeerServiceDeps, publisher: PeerPublisher): ServiceImpl<typeof QueenPeerService> {
  return {
    followHeldHives: (req, ctx) => followHeldHives(deps, publisher, req, ctx),
  };
}

async function* followHeldHives(deps: QueenPeerServiceDeps, publisher: PeerPublisher, req: FollowHeldHivesRequest, ctx: HandlerContext): AsyncGenerator<FollowHeldHivesResponse> {
  const queenId = deps.queenId();
  if (!queenId) throw new ConnectError("this queen has not joined its cluster yet", Code.Unavailable);
  const requested = req.flushInterval ? durationMs(req.flushInterval) : DEFAULT_PEER_FLUSH_INTERVAL_MS;
  if (!Number.isFinite(requested) || requested < 0) throw new ConnectError("flush_interval: must not be negative", Code.InvalidArgument);
  const intervalMs = Math.max(MIN_FLUSH_INTERVAL_MS, requested);
  const stop = AbortSignal.any([ctx.signal, deps.shutdownSignal]);
  const queue = publisher.follow();
  deps.logger.info({ follower: req.followerQueenId, intervalMs }, "queen follower connected");
  const held = (hiveId: string): boolean => {
    const hive = deps.registry.hive(hiveId);
    return hive !== undefined && !hive.remote && deps.holds(hiveId);
  };
  /** The full state of the given hives now, and those released since sent. */
  const message = (hiveIds: readonly string[], snapshotEnd: boolean): FollowHeldHivesResponse => {
    const hives: HiveStatus[] = [];
    const released: string[] = [];
    for (const hiveId of hiveIds) {
      if (held(hiveId)) {
        hives.push(deps.registry.hiveStatus(deps.registry.hive(hiveId)!, true));
        queue.sent.add(hiveId);
      } else if (queue.sent.delete(hiveId)) {
        released.push(hiveId);
      }
    }
    queue.messages++;
    return create(FollowHeldHivesResponseSchema, { queenId, hives, releasedHiveIds: released, snapshotEnd });
  };
  try {
    const snapshot = [...deps.registry.hives()].filter((h) => held(h.hiveId)).map((h) => h.hiveId);
    for (const hiveId of snapshot) queue.dirty.delete(hiveId);
    for (let i = 0; i < snapshot.length || i === 0; i += HIVES_PER_MESSAGE) {
      const chunk = snapshot.slice(i, i + HIVES_PER_MESSAGE);
      yield message(chunk, i + HIVES_PER_MESSAGE >= snapshot.length);
    }
    for (;;) {
      await pause(intervalMs, stop);
      await queue.nonEmpty(stop);
      if (stop.aborted) break;
      while (queue.dirty.size > 0) {
        const m = message(queue.take(HIVES_PER_MESSAGE), false);
        if (m.hives.length > 0 || m.releasedHiveIds.length > 0) yield m;
      }
    }
    if (deps.shutdownSignal.aborted) throw new ConnectError("queen is shutting down", Code.Unavailable);
  } finally {
    publisher.unfollow(queue);
    deps.logger.info({ follower: req.followerQueenId }, "queen follower disconnected");
  }
}
