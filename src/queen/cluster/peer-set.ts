import type { Transport } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import type { QueenMember } from "./cluster-store.js";
import { PeerFollower } from "./peer-follower.js";

export interface PeerSetOptions {
  selfId: string;
  transport(url: string): Transport;
  flushIntervalMs: number;
  logger: Logger;
  onHive(peerId: string, hiveId: string, status: HiveStatus | undefined): void;
}

/** One follower per other queen registered in the store (queens/ keys), each with its mirror. */
export class PeerSet {
  private readonly followers = new Map<string, PeerFollower>();
  private closed = false;

  constructor(private readonly opts: PeerSetOptions) {}

  /** Follows the queens listed and stops following the others. */
  update(queens: ReadonlyMap<string, QueenMember>): void {
    if (this.closed) return;
    for (const [peerId, follower] of this.followers) {
      const member = queens.get(peerId);
      if (member && member.advertiseUrl === follower.url) continue;
      this.followers.delete(peerId);
      void follower.close();
    }
    for (const [peerId, member] of queens) {
      if (peerId === this.opts.selfId || this.followers.has(peerId) || !member.advertiseUrl) continue;
      const follower = new PeerFollower({
        selfId: this.opts.selfId,
        peerId,
        url: member.advertiseUrl,
        transport: this.opts.transport(member.advertiseUrl),
        flushIntervalMs: this.opts.flushIntervalMs,
        logger: this.opts.logger,
        onHive: (p, h, s) => {
          if (this.followers.get(p) === follower) this.opts.onHive(p, h, s);
        },
      });
      this.followers.set(peerId, follower);
      follower.start();
    }
  }

  /** What the peer last said about the hive (its mirror), if it holds it. */
  statusFrom(peerId: string, hiveId: string): HiveStatus | undefined {
    return this.followers.get(peerId)?.mirror.get(hiveId);
  }

  /** Peer ids with a live stream (snapshot received, not ended since). */
  livePeers(): string[] {
    return [...this.followers].filter(([, f]) => f.live).map(([id]) => id);
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.followers.values()];
    this.followers.clear();
    await Promise.all(all.map((f) => f.close()));
  }
}
