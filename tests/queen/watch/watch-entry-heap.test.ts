import { describe, expect, it } from "vitest";
import { EntryHeap } from "../../../src/queen/watch/watch-entry-heap.js";

interface Item {
  value: number;
  heapIndex: number;
}

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

describe("EntryHeap", () => {
  it("pops in order under random pushes, pops and removals from the middle", () => {
    const rnd = random(7);
    const heap = new EntryHeap<Item>((a, b) => a.value < b.value);
    const live = new Set<Item>();
    for (let step = 0; step < 5_000; step++) {
      const r = rnd();
      if (r < 0.5) {
        const item = { value: Math.floor(rnd() * 1000), heapIndex: -1 };
        heap.push(item);
        live.add(item);
      } else if (r < 0.75) {
        const min = Math.min(...[...live].map((i) => i.value));
        const top = heap.pop();
        if (live.size === 0) expect(top).toBeUndefined();
        else {
          expect(top!.value).toBe(min);
          expect(top!.heapIndex).toBe(-1);
          live.delete(top!);
        }
      } else if (live.size > 0) {
        const victim = [...live][Math.floor(rnd() * live.size)];
        heap.remove(victim);
        heap.remove(victim); // twice: a no-op
        live.delete(victim);
      }
      expect(heap.size).toBe(live.size);
    }
    const rest: number[] = [];
    for (let item = heap.pop(); item; item = heap.pop()) rest.push(item.value);
    expect(rest).toEqual([...live].map((i) => i.value).sort((a, b) => a - b));
  });
});
