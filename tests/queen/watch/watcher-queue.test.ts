import { describe, expect, it } from "vitest";
import { ChangeType, type RegistryEvent } from "../../../src/queen/registry/registry.js";
import { WatcherQueue } from "../../../src/queen/watch/watcher-queue.js";
import { makeWorker } from "../helpers/telemetry-builders.js";

let rev = 0;
const ev = (type: ChangeType, workerId: string, cpuPct = 1): RegistryEvent => ({
  revision: ++rev,
  kind: "worker",
  type,
  hiveId: "h",
  worker: makeWorker(workerId, { cpuPct }),
});

function drain(q: WatcherQueue, now = 0): string[] {
  const out: string[] = [];
  for (let c = q.take(now); c; c = q.take(now)) {
    const e = c.event;
    out.push(`${ChangeType[c.type]}:${e.kind === "worker" ? e.worker.workerId : e.hiveId}@${e.revision}`);
  }
  return out;
}

describe("WatcherQueue", () => {
  it("keeps only the latest state per object, in the order of each object's oldest undelivered change", () => {
    rev = 0;
    const q = new WatcherQueue(0, 1000);
    q.offer(ev(ChangeType.Added, "a")); // 1
    q.offer(ev(ChangeType.Updated, "b")); // 2
    q.offer(ev(ChangeType.Updated, "a", 2)); // 3
    q.offer(ev(ChangeType.Updated, "b", 3)); // 4
    q.offer(ev(ChangeType.Updated, "c")); // 5
    q.offer(ev(ChangeType.Updated, "a", 4)); // 6
    expect(q.size()).toBe(3);
    expect(q.resumePoint(6)).toBe(0);
    const a = q.take(0)!;
    expect(`${ChangeType[a.type]}@${a.event.revision}`).toBe("Added@6"); // a stays first, ADDED, with its latest state
    expect(q.resumePoint(6)).toBe(1); // b's change at 2 is still undelivered
    expect(drain(q)).toEqual(["Updated:b@4", "Updated:c@5"]);
    expect(q.resumePoint(6)).toBe(6);
  });

  it("never loses a REMOVED; an ADDED after it is kept beside it", () => {
    rev = 0;
    const q = new WatcherQueue(0, 1000);
    q.offer(ev(ChangeType.Updated, "a")); // 1
    q.offer(ev(ChangeType.Removed, "a")); // 2
    q.offer(ev(ChangeType.Added, "a")); // 3
    q.offer(ev(ChangeType.Updated, "a")); // 4
    expect(drain(q)).toEqual(["Removed:a@2", "Added:a@4"]);
    q.offer(ev(ChangeType.Added, "b")); // 5
    q.offer(ev(ChangeType.Removed, "b")); // 6
    expect(drain(q)).toEqual(["Removed:b@6"]);
  });

  it("stays bounded by the number of objects however many updates arrive", () => {
    const q = new WatcherQueue(0, 1000);
    for (let i = 0; i < 10_000; i++) q.offer(ev(ChangeType.Updated, `w${i % 37}`, i));
    expect(q.size()).toBe(37);
    expect(q.isOverflowed()).toBe(false);
  });

  it("overflows (and stops growing) past maxPending", () => {
    const q = new WatcherQueue(0, 10);
    for (let i = 0; i < 50; i++) q.offer(ev(ChangeType.Removed, `gone${i}`));
    expect(q.isOverflowed()).toBe(true);
    expect(q.size()).toBe(11);
  });

  it("holds UPDATEDs back to min_update_interval per object, never ADDED or REMOVED; a held one holds the resume point", () => {
    rev = 0;
    const q = new WatcherQueue(1_000, 1000);
    q.offer(ev(ChangeType.Updated, "a")); // 1
    expect(drain(q, 0)).toEqual(["Updated:a@1"]);
    q.offer(ev(ChangeType.Updated, "a")); // 2
    q.offer(ev(ChangeType.Added, "b")); // 3
    expect(drain(q, 500)).toEqual(["Added:b@3"]);
    expect(q.resumePoint(3)).toBe(1); // a@2 is held: resuming from 1 replays it
    q.offer(ev(ChangeType.Updated, "a")); // 4: coalesces into the held one
    expect(q.resumePoint(4)).toBe(1);
    q.releaseDue(999);
    expect(q.nextDueMs()).toBe(1_000);
    expect(drain(q, 999)).toEqual([]);
    q.releaseDue(1_000);
    expect(drain(q, 1_000)).toEqual(["Updated:a@4"]);
    expect(q.resumePoint(4)).toBe(4);
    q.offer(ev(ChangeType.Updated, "a")); // 5: held again
    expect(drain(q, 1_100)).toEqual([]);
    q.offer(ev(ChangeType.Removed, "a")); // 6: never delayed, replaces the held update
    expect(drain(q, 1_100)).toEqual(["Removed:a@6"]);
    expect(q.size()).toBe(0);
    expect(q.resumePoint(6)).toBe(6);
  });

  it("releases held entries by due time, whatever order they were held in", () => {
    rev = 0;
    const q = new WatcherQueue(1_000, 100_000);
    for (let i = 0; i < 100; i++) q.offer(ev(ChangeType.Updated, `w${i}`)); // 1..100
    for (let i = 0; i < 100; i++) expect(q.take(99 - i)?.event.revision).toBe(i + 1); // w_i sent at 99 - i
    for (let i = 0; i < 100; i++) q.offer(ev(ChangeType.Updated, `w${i}`)); // 101..200, all held
    expect(q.take(100)).toBeUndefined();
    expect(q.resumePoint(200)).toBe(100);
    q.releaseDue(1_000); // due 1000 + 99 - i: only w99 released
    expect(q.nextDueMs()).toBe(1_001);
    expect(drain(q, 1_000)).toEqual(["Updated:w99@200"]);
    expect(q.resumePoint(200)).toBe(100); // w0's change at 101 still held
    q.releaseDue(1_099);
    expect(drain(q, 1_099)).toHaveLength(99);
    expect(q.resumePoint(200)).toBe(200);
  });

  it("does not wake its consumer for an UPDATED it must hold, nor for one that coalesces", async () => {
    rev = 0;
    const q = new WatcherQueue(1_000, 1000);
    q.offer(ev(ChangeType.Updated, "a")); // 1
    q.offer(ev(ChangeType.Updated, "b")); // 2
    expect(drain(q, 0)).toEqual(["Updated:a@1", "Updated:b@2"]);
    q.offer(ev(ChangeType.Updated, "a")); // 3: held until 1,000; wakes a consumer that waited for nothing
    expect(q.readyCount()).toBe(0);
    expect(q.nextDueMs()).toBe(1_000);
    let woken = false;
    const waiting = q.waitForWork(60_000).then(() => (woken = true));
    q.offer(ev(ChangeType.Updated, "a")); // 4: coalesces into the held one
    q.offer(ev(ChangeType.Updated, "b")); // 5: held, due no sooner than a
    await Promise.resolve();
    expect(woken).toBe(false);
    q.offer(ev(ChangeType.Added, "c")); // 6: in line at once
    await waiting;
    expect(drain(q, 999)).toEqual(["Added:c@6"]);
    q.releaseDue(1_000);
    expect(drain(q, 1_000)).toEqual(["Updated:a@4", "Updated:b@5"]);
  });

  it("wakes its consumer for a held UPDATED due before the one it sleeps for", async () => {
    rev = 0;
    const q = new WatcherQueue(1_000, 1000);
    q.offer(ev(ChangeType.Updated, "a")); // 1
    expect(drain(q, 0)).toEqual(["Updated:a@1"]);
    q.offer(ev(ChangeType.Updated, "b")); // 2
    expect(drain(q, 500)).toEqual(["Updated:b@2"]);
    q.offer(ev(ChangeType.Updated, "b")); // 3: held until 1,500
    const waiting = q.waitForWork(60_000);
    q.offer(ev(ChangeType.Updated, "a")); // 4: held until 1,000, sooner: the consumer must sleep less
    await waiting;
    expect(q.nextDueMs()).toBe(1_000);
  });

  it("releases held UPDATEDs together: the consumer wakes a tenth of the interval (at most 50 ms) after the first is due", () => {
    for (const [interval, slack] of [[1_000, 50], [200, 20], [10, 1]] as const) {
      const q = new WatcherQueue(interval, 1000);
      q.offer(ev(ChangeType.Updated, "a"));
      drain(q, 0);
      expect(q.nextReleaseMs()).toBeUndefined();
      q.offer(ev(ChangeType.Updated, "a"));
      expect(q.nextReleaseMs()).toBe(interval + slack);
    }
  });

  it("wakes a waiting consumer on offer and on close", async () => {
    const q = new WatcherQueue(0, 10);
    const woke = q.waitForWork(60_000);
    q.offer(ev(ChangeType.Added, "x"));
    await woke;
    drain(q);
    const closed = q.waitForWork(60_000);
    q.close();
    await closed;
    expect(q.isClosed()).toBe(true);
  });
});
