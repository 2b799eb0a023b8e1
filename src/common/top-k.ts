/**
 * The k smallest items under `compare`, kept without sorting everything: a bounded max-heap holds
 * the best k offered so far (O(n log k)); an item no better than the worst kept costs one compare.
 */
export class TopK<T> {
  // Max-heap on compare: heap[0] is the worst of the kept items.
  private readonly heap: T[] = [];

  constructor(
    private readonly k: number,
    private readonly compare: (a: T, b: T) => number,
  ) {}

  offer(item: T): void {
    const heap = this.heap;
    if (heap.length < this.k) {
      heap.push(item);
      this.siftUp(heap.length - 1);
    } else if (this.k > 0 && this.compare(item, heap[0]) < 0) {
      heap[0] = item;
      this.siftDown(0);
    }
  }

  /** The kept items, best first. */
  sorted(): T[] {
    return [...this.heap].sort(this.compare);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(heap[i], heap[parent]) <= 0) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < heap.length && this.compare(heap[l], heap[top]) > 0) top = l;
      if (r < heap.length && this.compare(heap[r], heap[top]) > 0) top = r;
      if (top === i) return;
      this.swap(i, top);
      i = top;
    }
  }

  private swap(i: number, j: number): void {
    const t = this.heap[i];
    this.heap[i] = this.heap[j];
    this.heap[j] = t;
  }
}

/** The k smallest items under `compare`, sorted. */
export function selectTop<T>(items: Iterable<T>, k: number, compare: (a: T, b: T) => number): T[] {
  const top = new TopK(k, compare);
  for (const item of items) top.offer(item);
  return top.sorted();
}

/** Ascending order of optional numbers (or bigints) with absent values last. */
export function compareKnownFirst<N extends number | bigint>(a: N | undefined, b: N | undefined): number {
  if (a === undefined) return b === undefined ? 0 : 1;
  if (b === undefined) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}
