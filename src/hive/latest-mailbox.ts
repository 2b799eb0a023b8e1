import { PushQueue } from "../common/push-queue.js";

/**
 * A one-slot mailbox for a slow consumer: a new value replaces the undelivered one, so memory
 * stays bounded and the producer never waits. close() drops an undelivered value.
 */
export class LatestMailbox<T> extends PushQueue<T> {
  constructor() {
    super({ limit: 1, overflow: "drop-oldest" });
  }

  put(value: T): void {
    this.push(value);
  }
}
