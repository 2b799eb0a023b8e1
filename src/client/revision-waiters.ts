interface Waiter {
  revision: bigint;
  /** The epoch the revision was asked in; "" before the informer had one. */
  epoch: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Callers waiting for the informer's cache to reach a revision (Informer.whenRevision). */
export class RevisionWaiters {
  private waiters: Waiter[] = [];
  private closed = false;

  wait(revision: bigint, current: bigint, epoch: string): Promise<void> {
    if (current >= revision && epoch !== "") return Promise.resolve();
    if (this.closed) return Promise.reject(new Error("informer closed"));
    return new Promise((resolve, reject) => this.waiters.push({ revision, epoch, resolve, reject }));
  }

  /**
   * The cache now holds everything up to `revision` of `epoch`. A snapshot's end in another epoch
   * than a waiter's also releases it: the cache then holds all the new queen knows, and revisions
   * of the old epoch mean nothing there.
   */
  reached(revision: bigint, epoch: string, snapshotEnd: boolean): void {
    if (this.waiters.length === 0) return;
    const waiting: Waiter[] = [];
    for (const w of this.waiters) {
      const done = epoch !== "" && (revision >= w.revision || (snapshotEnd && w.epoch !== "" && w.epoch !== epoch));
      if (done) w.resolve();
      else waiting.push(w);
    }
    this.waiters = waiting;
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new Error("informer closed"));
  }
}
