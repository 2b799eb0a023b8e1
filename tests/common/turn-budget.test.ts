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
});
