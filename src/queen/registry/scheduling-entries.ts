import type { SchedulingEntry as SharedEntry, WorkerEntry } from "../../contracts/scheduling-entry.js";
import type { HiveView } from "./registry.js";

/**
 * The registry's scheduling entries: the flat, number-only view of a worker that FindWorkers
 * filters and orders on (src/contracts/scheduling-entry.ts), over the queen's hive records.
 */
export type SchedulingEntry = SharedEntry<HiveView>;

/** The registry's mutable entry for one worker. */
export type RegistryWorkerEntry = WorkerEntry<HiveView>;
