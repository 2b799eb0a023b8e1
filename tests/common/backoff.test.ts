import { describe, expect, it } from "vitest";
import { Backoff } from "../../src/common/backoff.js";

describe("Backoff", () => {
  it("doubles the jitter window up to the cap, with full jitter", () => {
    const top = new Backoff({ baseMs: 250, capMs: 5000, random: () => 0.999999 });
    const windows = Array.from({ length: 8 }, () => top.next());
    expect(windows).toEqual([249, 499, 999, 1999, 3999, 4999, 4999, 4999]);
    const bottom = new Backoff({ baseMs: 250, capMs: 5000, random: () => 0 });
    expect(bottom.next()).toBe(0);
  });

  it("starts over after reset and counts failures", () => {
    const backoff = new Backoff({ baseMs: 100, capMs: 1000, random: () => 0.5 });
    backoff.next();
    backoff.next();
    backoff.next();
    expect(backoff.failures).toBe(3);
    backoff.reset();
    expect(backoff.failures).toBe(0);
    expect(backoff.next()).toBe(50);
  });

  it("stays bounded after very many failures", () => {
    const backoff = new Backoff({ baseMs: 250, capMs: 5000, random: () => 0.999999 });
    for (let i = 0; i < 2000; i += 1) backoff.next();
    expect(backoff.next()).toBeLessThan(5000);
  });

  it("rejects a cap below the base", () => {
    expect(() => new Backoff({ baseMs: 500, capMs: 100 })).toThrow(RangeError);
  });
});
