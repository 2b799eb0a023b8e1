import type { RegistryReadView } from "../registry/registry.js";

/**
 * What one follower has yet to be sent: the ids of the hives that changed since (one entry per
 * hive, however often it changed), and those it was sent (to tell it when one is released).
 */
export class FollowerQueue {
  readonly dirty = new Set<string>();
  readonly sent = new Set<string>();
  /** Messages handed to the stream so far. */
  messages = 0;
  private wake: (() => void) | undefined;

  touch(hiveId: string): void {
    this.dirty.add(hiveId);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Resolves once something is dirty, or the signal aborts. */
  nonEmpty(signal: AbortSignal): Promise<void> {
    if (this.dirty.size > 0 || signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        signal.removeEventListener("abort", done);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Takes up to max dirty hive ids, oldest change first. */
  take(max: number): string[] {
    const out: string[] = [];
    for (const hiveId of this.dirty) {
      if (out.length >= max) break;
      out.push(hiveId);
    }
    for (const hiveId of out) this.dirty.delete(hiveId);
    return out;
  }
}

/** Tells every follower which hives changed, from one registry subscription. */
export class PeerPublisher {
  private readonly followers = new Set<FollowerQueue>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly registry: RegistryReadView) {}

  follow(): FollowerQueue {
    if (!this.unsubscribe) this.unsubscribe = this.registry.subscribe((e) => this.touch(e.hiveId));
    const queue = new FollowerQueue();
    this.followers.add(queue);
    return queue;
  }

  unfollow(queue: FollowerQueue): void {
    this.followers.delete(queue);
    if (this.followers.size === 0 && this.unsubscribe) {
      this.unsubscribe();
      this.unsubscribe = undefined;
    }
  }

  followerCount(): number {
    return this.followers.size;
  }

  queues(): Iterable<FollowerQueue> {
    return this.followers.values();
  }

  private touch(hiveId: string): void {
    for (const f of this.followers) f.touch(hiveId);
  }
}
