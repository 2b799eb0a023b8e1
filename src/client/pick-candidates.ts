import { HiveHealth } from "../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import { byId, byMostFreeVram, knownAscending } from "../contracts/worker-order.js";
import type { CachedWorker } from "./cached-worker.js";
import { IndexedHeap } from "./indexed-heap.js";

/** A worker pick may return: RUNNING, on a HEALTHY hive, none of its GPUs UNHEALTHY (as FindWorkers' defaults). */
export function isPickable(w: CachedWorker): boolean {
  return w.state === WorkerState.RUNNING && w.hive.health === HiveHealth.HEALTHY && !w.gpuUnhealthy;
}

/**
 * FindWorkers' LEAST_LOADED order (waiting, then running, then KV-cache use; unknown last) with
 * the requests dispatched since the worker's last update counted as waiting, and, for workers
 * whose engine reports no load, as the tie-break before the id: picks between two reports spread.
 */
export function byLeastLoadedDispatched(a: CachedWorker, b: CachedWorker): number {
  return (
    knownAscending(a.waiting + a.dispatched, b.waiting + b.dispatched) ||
    knownAscending(a.running, b.running) ||
    knownAscending(a.kvUsage, b.kvUsage) ||
    a.dispatched - b.dispatched ||
    byId(a, b)
  );
}

/**
 * The pickable workers of one model, kept in the shapes each built-in policy reads in O(1): a flat
 * list (round-robin, custom policies), a heap by load and a heap by free VRAM. A change to one
 * worker costs O(log n).
 */
export class PickCandidates {
  readonly list: CachedWorker[] = [];
  readonly byLoad = new IndexedHeap<CachedWorker>(byLeastLoadedDispatched, { get: (w) => w.loadSlot, set: (w, i) => (w.loadSlot = i) });
  readonly byFreeVram = new IndexedHeap<CachedWorker>(byMostFreeVram, { get: (w) => w.vramSlot, set: (w, i) => (w.vramSlot = i) });
  /** Round-robin position: the index in `list` picked last. */
  cursor = -1;

  get size(): number {
    return this.list.length;
  }

  /** Adds the worker, or re-sorts it after its numbers changed. */
  upsert(w: CachedWorker): void {
    if (w.candidateSlot === -1) {
      w.candidateSlot = this.list.length;
      this.list.push(w);
    }
    this.byLoad.add(w);
    this.byFreeVram.add(w);
  }

  /** Re-sorts the worker by load after its dispatched count changed. */
  loadChanged(w: CachedWorker): void {
    this.byLoad.update(w);
  }

  remove(w: CachedWorker): void {
    if (w.candidateSlot === -1) return;
    const last = this.list.pop()!;
    if (last !== w) {
      this.list[w.candidateSlot] = last;
      last.candidateSlot = w.candidateSlot;
    }
    w.candidateSlot = -1;
    this.byLoad.delete(w);
    this.byFreeVram.delete(w);
  }

  nextRoundRobin(): CachedWorker | undefined {
    if (this.list.length === 0) return undefined;
    this.cursor = (this.cursor + 1) % this.list.length;
    return this.list[this.cursor];
  }
}
