import type { CachedWorker } from "./cached-worker.js";
import type { PickCandidates } from "./pick-candidates.js";

/**
 * The built-in ways to pick one worker of a model among its pickable ones (RUNNING, hive HEALTHY):
 * - `least-loaded`: fewest requests waiting (plus those dispatched since its last report, see
 *   Informer.recordDispatch), then running, then lowest KV-cache use; workers without engine
 *   metrics last; then fewest dispatched, then (hive_id, worker_id).
 * - `most-free-vram`: most free GPU memory (FindWorkers' MOST_FREE_VRAM), unknown last.
 * - `round-robin`: each pickable worker in turn.
 */
export type PickPolicyName = "least-loaded" | "most-free-vram" | "round-robin";

/**
 * A policy of one's own: given the model's pickable workers (a live array, never empty; read it
 * at once, do not keep or change it), returns one of them or undefined. It runs on every pick.
 */
export type PickFunction = (candidates: readonly CachedWorker[]) => CachedWorker | undefined;

export type PickPolicy = PickPolicyName | PickFunction;

export const PICK_POLICIES: readonly PickPolicyName[] = ["least-loaded", "most-free-vram", "round-robin"];

/** One worker of the candidates under the policy; undefined when there is none. */
export function pickFrom(candidates: PickCandidates | undefined, policy: PickPolicy): CachedWorker | undefined {
  if (!candidates || candidates.size === 0) return undefined;
  switch (policy) {
    case "least-loaded":
      return candidates.byLoad.peek();
    case "most-free-vram":
      return candidates.byFreeVram.peek();
    case "round-robin":
      return candidates.nextRoundRobin();
    default:
      if (typeof policy === "function") return policy(candidates.list);
      throw new RangeError(`pick: unknown policy ${JSON.stringify(policy)}; one of ${PICK_POLICIES.join(", ")} or a function`);
  }
}
