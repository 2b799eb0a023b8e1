import type { RegistryEvent } from "./registry.js";

/**
 * The last `capacity` registry events, in a ring buffer. Revisions are consecutive, so the
 * position of any retained revision is computed, never searched.
 */
export class EventHistory {
  private readonly ring: (RegistryEvent | undefined)[];
  private next = 0;
  private count = 0;
  private lastRevision = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array<RegistryEvent | undefined>(capacity);
  }

  append(event: RegistryEvent): void {
    if (this.count > 0 && event.revision !== this.lastRevision + 1) {
      throw new Error(`event history: revision ${event.revision} does not follow ${this.lastRevision}`);
    }
    this.ring[this.next] = event;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    this.lastRevision = event.revision;
  }

  /** Oldest retained revision, or undefined when empty. */
  oldestRevision(): number | undefined {
    return this.count === 0 ? undefined : this.lastRevision - this.count + 1;
  }

  /**
   * Events with revision > since, oldest first. Undefined when an event after `since` is no longer
   * retained (the caller must start from a snapshot). `current` is the registry's revision.
   */
  since(since: number, current: number): RegistryEvent[] | undefined {
    if (since >= current) return since === current ? [] : undefined;
    const oldest = this.oldestRevision();
    if (oldest === undefined || since + 1 < oldest || current !== this.lastRevision) return undefined;
    const out: RegistryEvent[] = [];
    const start = (this.next - this.count + (since + 1 - oldest) + this.capacity) % this.capacity;
    for (let i = 0, n = current - since; i < n; i++) out.push(this.ring[(start + i) % this.capacity]!);
    return out;
  }
}
