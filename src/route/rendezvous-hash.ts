/** FNV-1a over the UTF-16 code units of `text`, 32 bits. */
export function hashText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's finaliser over the two hashes: the weight of one (key, worker) pair. */
function weight(key: number, worker: number): number {
  let h = (key ^ Math.imul(worker, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Rendezvous (highest random weight) hashing, a consistent hash: each key prefers the worker with
 * the highest weight for it, so adding or removing a worker moves only the keys it wins or held.
 * Returns the eligible item with the highest weight for `key`, or undefined when none is eligible.
 */
export function rendezvousPick<T>(key: number, items: readonly T[], workerHash: (item: T) => number, eligible: (item: T) => boolean): T | undefined {
  let best: T | undefined;
  let bestWeight = -1;
  for (const item of items) {
    if (!eligible(item)) continue;
    const w = weight(key, workerHash(item));
    if (w > bestWeight) {
      best = item;
      bestWeight = w;
    }
  }
  return best;
}
