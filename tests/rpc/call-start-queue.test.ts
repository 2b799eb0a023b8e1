import { describe, expect, it } from "vitest";
import { CallStartQueue } from "../../src/rpc/call-start-queue.js";

// The queue drains in a setImmediate; one awaited here, queued after it, runs once that turn is done.
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("CallStartQueue", () => {
  it("starts nothing in the turn of the enqueue, then at most perTurn calls in each later turn", async () => {
    const errors: unknown[] = [];
    const queue = new CallStartQueue((err) => errors.push(err), 64);
    let started = 0;
    for (let i = 0; i < 200; i++) queue.enqueue(() => started++, () => false);
    expect(started).toBe(0);
    const perTurn: number[] = [];
    while (queue.size > 0) {
      const before = started;
      await nextTurn();
      perTurn.push(started - before);
    }
    expect(perTurn).toEqual([64, 64, 64, 8]);
    expect(errors).toEqual([]);
  });

  it("drops a call whose stream is gone by its turn, without counting it against the turn", async () => {
    const queue = new CallStartQueue(() => {}, 4);
    const started: number[] = [];
    for (let i = 0; i < 1_000; i++) queue.enqueue(() => started.push(i), () => i % 100 !== 0);
    await nextTurn();
    expect(started).toEqual([0, 100, 200, 300]);
    while (queue.size > 0) await nextTurn();
    expect(started).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
  });

  it("bounds the gone calls dropped in one turn too, so a flood of them cannot hold the loop", async () => {
    const queue = new CallStartQueue(() => {}, 4);
    for (let i = 0; i < 10_000; i++) queue.enqueue(() => {}, () => true);
    await nextTurn();
    expect(queue.size).toBeGreaterThan(0);
    expect(queue.size).toBeLessThan(10_000);
    let turns = 1;
    while (queue.size > 0) (await nextTurn(), turns++);
    expect(turns).toBeGreaterThan(1);
  });

  it("a start that throws is reported and the calls after it still start", async () => {
    const errors: unknown[] = [];
    const queue = new CallStartQueue((err) => errors.push(err), 64);
    let started = 0;
    queue.enqueue(() => {
      throw new Error("handler defect");
    }, () => false);
    queue.enqueue(() => started++, () => false);
    await nextTurn();
    expect(errors.map((e) => (e as Error).message)).toEqual(["handler defect"]);
    expect(started).toBe(1);
  });
});
