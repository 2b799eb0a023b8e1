import { describe, expect, it } from "vitest";
import { LatestMailbox } from "../../src/hive/latest-mailbox.js";

describe("LatestMailbox", () => {
  it("keeps only the latest undelivered value for a slow consumer", async () => {
    const mailbox = new LatestMailbox<number>();
    for (let i = 1; i <= 10_000; i += 1) mailbox.put(i);
    const iterator = mailbox[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: 10_000 });
    mailbox.put(10_001);
    mailbox.put(10_002);
    expect(await iterator.next()).toEqual({ done: false, value: 10_002 });
  });

  it("wakes a waiting consumer, and ends at close without delivering what is left", async () => {
    const mailbox = new LatestMailbox<string>();
    const received: string[] = [];
    const consumer = (async () => {
      for await (const value of mailbox) received.push(value);
    })();
    mailbox.put("a");
    await new Promise((resolve) => setImmediate(resolve));
    mailbox.put("b");
    mailbox.close();
    mailbox.put("ignored");
    await consumer;
    expect(received).toEqual(["a"]);
  });

  it("throws the close error to the consumer", async () => {
    const mailbox = new LatestMailbox<number>();
    mailbox.put(1);
    mailbox.close(new Error("shutting down"));
    const iterator = mailbox[Symbol.asyncIterator]();
    await expect(iterator.next()).rejects.toThrow("shutting down");
  });
});
