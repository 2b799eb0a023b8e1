import { describe, expect, it } from "vitest";
import { TurnBudget } from "../../src/common/turn-budget.js";

describe("TurnBudget", () => {
  it("lets work through until the turn's budget is spent, then only from the next turn, after callbacks queued before", async () => {
    const budget = new TurnBudget(10);
    const order: string[] = [];
    setImmediate(() => order.push("queued earlier"));
    expect(budget.exhausted()).toBeUndefined();
    budget.spend(6);
    expect(budget.exhausted()).toBeUndefined();
    budget.spend(6); // a batch may overshoot once
    const next = budget.exhausted();
    expect(next).toBeInstanceOf(Promise);
    expect(budget.exhausted()).toBe(next); // every waiting stream shares one wake-up
    await Promise.resolve();
    expect(order).toEqual([]); // not within this turn
    await next!.then(() => order.push("next turn"));
    expect(order).toEqual(["queued earlier", "next turn"]);
    expect(budget.exhausted()).toBeUndefined(); // a fresh budget
  });

  // Cost at ease: a reset scheduled for every turn with any work was a setImmediate per Heartbeat
  // report on a lightly loaded queen (36 µs and 0.4 KiB per report in the report-cpu figure).
  it("schedules no reset before the budget is reached: the count carries across turns until then", async () => {
    const budget = new TurnBudget(10);
    budget.spend(6);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(budget.exhausted()).toBeUndefined();
    budget.spend(6);
    const next = budget.exhausted();
    expect(next).toBeInstanceOf(Promise);
    await next;
    expect(budget.exhausted()).toBeUndefined();
  });
});
