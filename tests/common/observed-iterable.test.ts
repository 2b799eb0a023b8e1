import { describe, expect, it } from "vitest";
import { observeIterable } from "../../src/common/observed-iterable.js";

async function* source(values: number[], failWith?: Error): AsyncGenerator<number> {
  for (const v of values) yield v;
  if (failWith) throw failWith;
}

describe("observeIterable", () => {
  it("passes every value through, tells each to the observer, and ends once", async () => {
    const seen: number[] = [];
    const ends: unknown[] = [];
    const out: number[] = [];
    for await (const v of observeIterable(source([1, 2, 3]), { value: (v) => seen.push(v), end: (err) => ends.push(err) })) out.push(v);
    expect(out).toEqual([1, 2, 3]);
    expect(seen).toEqual([1, 2, 3]);
    expect(ends).toEqual([undefined]);
  });

  it("maps a source's error before the consumer and the end hook see it", async () => {
    const ends: unknown[] = [];
    const mapped = new Error("mapped");
    const run = async () => {
      for await (const _ of observeIterable(source([1], new Error("raw")), { mapError: () => mapped, end: (err) => ends.push(err) })) void _;
    };
    await expect(run()).rejects.toBe(mapped);
    expect(ends).toEqual([mapped]);
  });

  it("ends once and stops the source when the consumer stops early", async () => {
    let finalized = false;
    async function* endless(): AsyncGenerator<number> {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        finalized = true;
      }
    }
    const ends: unknown[] = [];
    for await (const v of observeIterable(endless(), { end: (err) => ends.push(err) })) if (v === 2) break;
    expect(ends).toEqual([undefined]);
    expect(finalized).toBe(true);
  });
});
