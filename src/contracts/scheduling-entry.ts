import type { HiveHealth } from "../../gen/apiary/v1/queen_pb.js";
import { GpuHealthState, type GpuDevice, type HiveInfo, type WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";

/**
 * What scheduling needs to know of a hive: the queen's registry record and a client's informer
 * cache both have it, so FindWorkers' filters and orders are computed by the same code on either.
 */
export interface SchedulingHive {
  readonly hiveId: string;
  readonly info: HiveInfo;
  readonly health: HiveHealth;
  /** When the hive was last heard from (wall clock, ms). */
  readonly lastSeenWallMs: number;
  /** The hive's GPUs by uuid (the last device of a uuid wins). */
  readonly devicesByUuid: ReadonlyMap<string, GpuDevice>;
}

/**
 * The flat, number-only view of one worker that FindWorkers filters and orders on, kept up to date
 * whenever the worker or its hive's devices change, so a query does no map walks, no BigInt
 * arithmetic and no allocation per candidate.
 */
export interface SchedulingEntry<H extends SchedulingHive = SchedulingHive> {
  readonly hive: H;
  readonly worker: WorkerTelemetry;
  /** worker.state */
  readonly state: number;
  /** worker.gpu_utilization_pct; NaN when unknown. */
  readonly gpuUtil: number;
  /**
   * Free VRAM (see {@link workerFreeVramBytes}) as a double, NaN when unknown: exact below 2^53;
   * above, doubles that compare equal must be settled on the exact value.
   */
  readonly freeVram: number;
  /** worker.engine_load.requests_waiting; NaN when unknown (no engine metrics, or not exported). */
  readonly waiting: number;
  /** worker.engine_load.requests_running; NaN when unknown. */
  readonly running: number;
  /** worker.engine_load.kv_cache_usage_ratio; NaN when unknown. */
  readonly kvUsage: number;
  /** One of the worker's GPUs is judged UNHEALTHY by its hive (see {@link workerOnUnhealthyGpu}). */
  readonly gpuUnhealthy: boolean;
}

/** The hive judged the GPU UNHEALTHY (needs a reset or service); UNSPECIFIED (old hive) counts as healthy. */
export function isUnhealthyGpu(device: GpuDevice | undefined): boolean {
  return device?.health?.state === GpuHealthState.UNHEALTHY;
}

/**
 * A worker is on an unhealthy GPU when any one of its GPUs is UNHEALTHY: a worker spread over
 * several GPUs (tensor parallel) fails as a whole when one of them does, so partial counts as sick.
 */
export function workerOnUnhealthyGpu(hive: SchedulingHive, worker: WorkerTelemetry): boolean {
  const uuids = worker.gpuUuids;
  for (let i = 0; i < uuids.length; i++) if (isUnhealthyGpu(hive.devicesByUuid.get(uuids[i]))) return true;
  return false;
}

/** Doubles at or below this are exact integers, and so are the integers they came from. */
export const EXACT_DOUBLE_LIMIT = Number.MAX_SAFE_INTEGER;

/** The hive's devices by uuid, the last device of a uuid winning (as the queen's registry keeps them). */
export function devicesByUuid(devices: readonly GpuDevice[]): Map<string, GpuDevice> {
  return new Map(devices.map((d) => [d.uuid, d]));
}

/**
 * Free VRAM of a worker: memory_total − memory_used of each of its GPUs (as measured, all
 * processes), the minimum over them. Undefined without GPUs, or when a GPU or its memory is unknown.
 */
export function workerFreeVramBytes(hive: SchedulingHive, worker: WorkerTelemetry): bigint | undefined {
  let min: bigint | undefined;
  for (const uuid of worker.gpuUuids) {
    const d = hive.devicesByUuid.get(uuid);
    const free = d && deviceFreeVram(d);
    if (free === undefined) return undefined;
    if (min === undefined || free < min) min = free;
  }
  return min;
}

/** Free VRAM of one GPU: memory_total − memory_used as measured (0 when over); undefined when either is unknown. */
export function deviceFreeVram(device: GpuDevice): bigint | undefined {
  if (device.memoryTotalBytes === undefined || device.memoryUsedBytes === undefined) return undefined;
  return device.memoryTotalBytes > device.memoryUsedBytes ? device.memoryTotalBytes - device.memoryUsedBytes : 0n;
}

/**
 * {@link workerFreeVramBytes} rounded to a double (NaN when unknown), without allocating BigInts in
 * the common case. Rounding is monotonic, so the minimum of the rounded values is the rounded minimum.
 */
export function workerFreeVram(hive: SchedulingHive, worker: WorkerTelemetry): number {
  const uuids = worker.gpuUuids;
  if (uuids.length === 0) return NaN;
  let min = Infinity;
  for (let i = 0; i < uuids.length; i++) {
    const d = hive.devicesByUuid.get(uuids[i]);
    const total = d?.memoryTotalBytes;
    const used = d?.memoryUsedBytes;
    if (total === undefined || used === undefined) return NaN;
    let free = 0;
    if (total > used) {
      const t = Number(total);
      free = t <= EXACT_DOUBLE_LIMIT ? t - Number(used) : Number(total - used);
    }
    if (free < min) min = free;
  }
  return min;
}

/** A mutable entry; `slot` is its position in its model's list (for O(1) removal). */
export class WorkerEntry<H extends SchedulingHive = SchedulingHive> implements SchedulingEntry<H> {
  state = 0;
  gpuUtil = NaN;
  freeVram = NaN;
  waiting = NaN;
  running = NaN;
  kvUsage = NaN;
  gpuUnhealthy = false;
  slot = -1;

  constructor(
    readonly hive: H,
    public worker: WorkerTelemetry,
  ) {}

  /** Recomputes the derived fields from `worker` and the hive's current devices. */
  refresh(): void {
    const w = this.worker;
    this.state = w.state;
    this.gpuUtil = w.gpuUtilizationPct ?? NaN;
    this.freeVram = workerFreeVram(this.hive, w);
    const load = w.engineLoad;
    this.waiting = load?.requestsWaiting ?? NaN;
    this.running = load?.requestsRunning ?? NaN;
    this.kvUsage = load?.kvCacheUsageRatio ?? NaN;
    this.gpuUnhealthy = workerOnUnhealthyGpu(this.hive, w);
  }
}

/** Per model, a flat array of entries; swap-remove keeps removal O(1). */
export class ModelLists<E extends WorkerEntry<SchedulingHive> = WorkerEntry> {
  readonly byModel = new Map<string, E[]>();
  private count = 0;

  size(): number {
    return this.count;
  }

  add(entry: E): void {
    if (entry.slot !== -1) throw new Error(`scheduling index: ${entry.worker.workerId} is already listed`);
    const model = entry.worker.model;
    let list = this.byModel.get(model);
    if (!list) this.byModel.set(model, (list = []));
    entry.slot = list.length;
    list.push(entry);
    this.count++;
  }

  /** Removes the entry from the list of its worker's model (call before pointing it at another worker). */
  remove(entry: E): void {
    const model = entry.worker.model;
    const list = this.byModel.get(model);
    if (!list || list[entry.slot] !== entry) {
      throw new Error(`scheduling index: worker ${entry.hive.hiveId}/${entry.worker.workerId} missing under "${model}"`);
    }
    const last = list.pop()!;
    if (last !== entry) {
      list[entry.slot] = last;
      last.slot = entry.slot;
    }
    entry.slot = -1;
    this.count--;
    if (list.length === 0) this.byModel.delete(model);
  }
}
