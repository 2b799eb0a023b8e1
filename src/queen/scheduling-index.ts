import type { GpuDevice, WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import type { HiveView } from "./registry.js";

/**
 * The flat, number-only view of one worker that FindWorkers filters and orders on, kept up to date
 * by the registry whenever the worker or its hive's devices change, so a query does no map walks,
 * no BigInt arithmetic and no allocation per candidate.
 */
export interface SchedulingEntry {
  readonly hive: HiveView;
  readonly worker: WorkerTelemetry;
  /** worker.state */
  readonly state: number;
  /** worker.gpu_utilization_pct; NaN when unknown. */
  readonly gpuUtil: number;
  /**
   * Free VRAM (see {@link workerFreeVramBytes}) as a double; NaN when unknown. Exact below 2^53;
   * above, doubles that compare equal must be settled on {@link freeVramBytes}.
   */
  readonly freeVram: number;
  /** The exact free VRAM; undefined when unknown. */
  readonly freeVramBytes: bigint | undefined;
}

/** memory_total − memory_used of each GPU whose memory is known, by uuid (the last device of a uuid wins). */
export function deviceFreeVramByUuid(devicesByUuid: ReadonlyMap<string, GpuDevice>): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const [uuid, d] of devicesByUuid) {
    if (d.memoryTotalBytes === undefined || d.memoryUsedBytes === undefined) continue;
    out.set(uuid, d.memoryTotalBytes > d.memoryUsedBytes ? d.memoryTotalBytes - d.memoryUsedBytes : 0n);
  }
  return out;
}

/**
 * Free VRAM of a worker: memory_total − memory_used of each of its GPUs (as measured, all
 * processes), the minimum over them. Undefined without GPUs, or when a GPU or its memory is unknown.
 */
export function workerFreeVramBytes(worker: WorkerTelemetry, freeByUuid: ReadonlyMap<string, bigint>): bigint | undefined {
  let min: bigint | undefined;
  for (const uuid of worker.gpuUuids) {
    const free = freeByUuid.get(uuid);
    if (free === undefined) return undefined;
    if (min === undefined || free < min) min = free;
  }
  return min;
}

/** The registry's mutable entry; `slot` is its position in its model list (for O(1) removal). */
export class WorkerEntry implements SchedulingEntry {
  state = 0;
  gpuUtil = NaN;
  freeVram = NaN;
  freeVramBytes: bigint | undefined = undefined;
  slot = -1;
  /** The model it is listed under (the worker's model when it was listed). */
  model = "";

  constructor(
    readonly hive: HiveView,
    public worker: WorkerTelemetry,
  ) {}

  /** Recomputes the derived fields from `worker` and the hive's free VRAM per GPU. */
  refresh(freeByUuid: ReadonlyMap<string, bigint>): void {
    const w = this.worker;
    this.state = w.state;
    this.gpuUtil = w.gpuUtilizationPct ?? NaN;
    const free = workerFreeVramBytes(w, freeByUuid);
    this.freeVramBytes = free;
    this.freeVram = free === undefined ? NaN : Number(free);
  }
}

/** Per model, a flat array of entries; swap-remove keeps removal O(1). */
export class ModelLists {
  readonly byModel = new Map<string, WorkerEntry[]>();
  private count = 0;

  size(): number {
    return this.count;
  }

  add(entry: WorkerEntry): void {
    if (entry.slot !== -1) throw new Error(`scheduling index: ${entry.worker.workerId} is already listed`);
    const model = entry.worker.model;
    let list = this.byModel.get(model);
    if (!list) this.byModel.set(model, (list = []));
    entry.model = model;
    entry.slot = list.length;
    list.push(entry);
    this.count++;
  }

  remove(entry: WorkerEntry): void {
    const list = this.byModel.get(entry.model);
    if (!list || list[entry.slot] !== entry) {
      throw new Error(`scheduling index: worker ${entry.hive.hiveId}/${entry.worker.workerId} missing under "${entry.model}"`);
    }
    const last = list.pop()!;
    if (last !== entry) {
      list[entry.slot] = last;
      last.slot = entry.slot;
    }
    entry.slot = -1;
    this.count--;
    if (list.length === 0) this.byModel.delete(entry.model);
  }
}
