import { describe, expect, it } from "vitest";
import { PushQueue } from "../../src/common/push-queue.js";

async function drain<T>(queue: PushQueue<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const value of queue) out.push(value);
  return out;
}

describe("PushQueue", () => {
  it("drop-oldest keeps the newest `limit` values and delivers them after end()", async () => {
    const queue = new PushQueue<number>({ limit: 3, overflow: "drop-oldest" });
    for (let i = 1; i <= 10; i += 1) queue.push(i);
    queue.end();
    queue.push(11);
    expect(await drain(queue)).toEqual([8, 9, 10]);
  });

  it("drop-newest keeps the oldest `limit` values", async () => {
    const queue = new PushQueue<number>({ limit: 3, overflow: "drop-newest" });
    for (let i = 1; i <= 10; i += 1) queue.push(i);
    queue.end();
    expect(await drain(queue)).toEqual([1, 2, 3]);
  });

  it("wakes a waiting consumer for each push", async () => {
    const queue = new PushQueue<string>({ limit: 8, overflow: "drop-oldest" });
    const it = queue[Symbol.asyncIterator]();
    const first = it.next();
    queue.push("a");
    expect(await first).toEqual({ done: false, value: "a" });
    const second = it.next();
    queue.push("b");
    expect(await second).toEqual({ done: false, value: "b" });
  });

  it("close() drops what is queued and throws its error to the consumer", async () => {
    const queue = new PushQueue<number>({ limit: 8, overflow: "drop-oldest" });
    queue.push(1);
    queue.close(new Error("shutting down"));
    queue.close(new Error("a later reason"));
    await expect(drain(queue)).rejects.toThrow("shutting down");
  });

  it("refuses a limit below one", () => {
    expect(() => new PushQueue<number>({ limit: 0, overflow: "drop-oldest" })).toThrow(/limit/);
  });
});
