import { createClient, type Transport } from "@connectrpc/connect";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import type { HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import { QueenPeerService } from "../../../gen/apiary/v1/queen_peer_pb.js";
import { Backoff } from "../../common/backoff.js";
import { pause } from "../../common/wait.js";

export interface PeerFollowerOptions {
  selfId: string;
  peerId: string;
  url: string;
  transport: Transport;
  flushIntervalMs: number;
  logger: Logger;
  /** A hive's state as the peer sends it; undefined: the peer no longer holds it. */
  onHive(peerId: string, hiveId: string, status: HiveStatus | undefined): void;
  backoff?: Backoff;
}

/**
 * Follows one other queen (FollowHeldHives) and keeps its mirror: what that queen says about
 * each hive it holds, whoever the store says owns it now. Reconnects with backoff (delays capped,
 * until close()); each connection's snapshot replaces what the mirror had. While disconnected
 * the mirror stays as it was.
 */
export class PeerFollower {
  mirror = new Map<string, HiveStatus>();
  private readonly stop = new AbortController();
  private readonly backoff: Backoff;
  private loop: Promise<void> | undefined;
  /** True between a snapshot_end and the stream's end. */
  live = false;

  constructor(private readonly opts: PeerFollowerOptions) {
    this.backoff = opts.backoff ?? new Backoff({ baseMs: 100, capMs: 5_000 });
  }

  get url(): string {
    return this.opts.url;
  }

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const { logger, peerId } = this.opts;
    const client = createClient(QueenPeerService, this.opts.transport);
    while (!this.stop.signal.aborted) {
      try {
        await this.follow(client);
      } catch (err) {
        if (this.stop.signal.aborted) break;
        logger.warn({ err, peer: peerId, failures: this.backoff.failures + 1 }, "following queen failed");
      }
      this.live = false;
      await pause(this.backoff.next(), this.stop.signal);
    }
  }

  private async follow(client: ReturnType<typeof createClient<typeof QueenPeerService>>): Promise<void> {
    const { peerId, onHive } = this.opts;
    const stream = client.followHeldHives(
      { followerQueenId: this.opts.selfId, flushInterval: durationFromMs(this.opts.flushIntervalMs) },
      { signal: this.stop.signal },
    );
    let fresh: Map<string, HiveStatus> | undefined = new Map();
    for await (const m of stream) {
      if (fresh) {
        for (const hive of m.hives) fresh.set(hive.info!.hiveId, hive);
        for (const hiveId of m.releasedHiveIds) fresh.delete(hiveId);
        if (!m.snapshotEnd) continue;
        const old = this.mirror;
        this.mirror = fresh;
        fresh = undefined;
        this.live = true;
        this.backoff.reset();
        this.opts.logger.info({ peer: peerId, hives: this.mirror.size }, "following queen");
        for (const [hiveId, hive] of this.mirror) onHive(peerId, hiveId, hive);
        for (const hiveId of old.keys()) if (!this.mirror.has(hiveId)) onHive(peerId, hiveId, undefined);
        continue;
      }
      for (const hive of m.hives) {
        const hiveId = hive.info!.hiveId;
        this.mirror.set(hiveId, hive);
        onHive(peerId, hiveId, hive);
      }
      for (const hiveId of m.releasedHiveIds) {
        if (this.mirror.delete(hiveId)) onHive(peerId, hiveId, undefined);
      }
    }
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }
}
