/** Where an item sits in one heap: kept on the item itself (-1 when absent), so no lookup is needed. */
export interface HeapSlot<T> {
  get(item: T): number;
  set(item: T, index: number): void;
}

/**
 * A binary min-heap (under `compare`) that knows where each item sits, so an item whose key
 * changed moves in O(log n) and any item leaves in O(log n); the best item is read in O(1).
 */
export class IndexedHeap<T> {
  private readonly items: T[] = [];

  constructor(
    private readonly compare: (a: T, b: T) => number,
    private readonly slot: HeapSlot<T>,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /** The best item, or undefined when empty. */
  peek(): T | undefined {
    return this.items[0];
  }

  has(item: T): boolean {
    return this.slot.get(item) !== -1;
  }

  add(item: T): void {
    if (this.has(item)) return this.update(item);
    this.items.push(item);
    this.slot.set(item, this.items.length - 1);
    this.siftUp(this.items.length - 1);
  }

  /** Restores the order after the item's key changed. */
  update(item: T): void {
    const i = this.slot.get(item);
    if (i === -1) return;
    if (!this.siftUp(i)) this.siftDown(i);
  }

  delete(item: T): void {
    const i = this.slot.get(item);
    if (i === -1) return;
    this.slot.set(item, -1);
    const last = this.items.pop()!;
    if (i === this.items.length) return;
    this.items[i] = last;
    this.slot.set(last, i);
    if (!this.siftUp(i)) this.siftDown(i);
  }

  /** Moves item i up while it beats its parent; true when it moved. */
  private siftUp(i: number): boolean {
    const items = this.items;
    const start = i;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(items[i], items[parent]) >= 0) break;
      this.swap(i, parent);
      i = parent;
    }
    return i !== start;
  }

  private siftDown(i: number): void {
    const items = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < items.length && this.compare(items[l], items[best]) < 0) best = l;
      if (r < items.length && this.compare(items[r], items[best]) < 0) best = r;
      if (best === i) return;
      this.swap(i, best);
      i = best;
    }
  }

  private swap(i: number, j: number): void {
    const items = this.items;
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
    this.slot.set(items[i], i);
    this.slot.set(items[j], j);
  }
}
