import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import type { CollectionError, GpuDevice, GpuProbeStatus, HiveInfo, WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { HiveDepartureView, HiveView, WorkerRejection } from "./registry.js";
import { ModelLists, WorkerEntry } from "../../contracts/scheduling-entry.js";
import type { RegistryWorkerEntry } from "./scheduling-entries.js";

/** The mutable state of one hive inside its shard. */
export class HiveRecord implements HiveView {
  health: HiveHealth = HiveHealth.HEALTHY;
  connected = true;
  lastSeq = 0n;
  devices: readonly GpuDevice[] = [];
  devicesByUuid: Map<string, GpuDevice> = new Map();
  workers: Map<string, WorkerTelemetry> = new Map();
  /** One scheduling entry per worker, mutated in place (unlike `workers`). */
  readonly schedulingEntries = new Map<string, RegistryWorkerEntry>();
  gpuProbe: GpuProbeStatus | undefined = undefined;
  memoryAvailableBytes: bigint | undefined = undefined;
  errors: readonly CollectionError[] = [];
  /** The hive's own errors of its last report, and the worker entries left out (errors holds both). */
  reportedErrors: readonly CollectionError[] = [];
  rejected: readonly WorkerRejection[] = [];
  /** The messages of the worker entries left out of the last report, joined (to log only changes). */
  rejectionKey = "";
  /** When the queen first saw each ended worker (liveness clock), for its retention. */
  readonly endedSinceMs = new Map<string, number>();
  /** Ended workers the queen keeps although the hive no longer reports them. */
  carried = new Set<string>();
  /** Set by a goodbye that left workers running; cleared by the next hello. */
  departure: HiveDepartureView | undefined = undefined;
  remote = false;
  ownerQueenId: string | undefined = undefined;

  constructor(
    public info: HiveInfo,
    public incarnation: string,
    public lastSeenMs: number,
    public lastSeenWallMs: number,
    public connectedAtWallMs: number,
  ) {}

  get hiveId(): string {
    return this.info.hiveId;
  }

  setDevices(devices: readonly GpuDevice[]): void {
    this.devices = devices;
    this.devicesByUuid = new Map(devices.map((d) => [d.uuid, d]));
  }
}

/** One shard: its hives and, per model, the scheduling entries of their workers. */
export class RegistryShard {
  readonly hives = new Map<string, HiveRecord>();
  readonly models = new ModelLists<RegistryWorkerEntry>();

  workerCount(): number {
    return this.models.size();
  }

  /** Adds the worker's entry to its hive and its model list. */
  addWorker(record: HiveRecord, worker: WorkerTelemetry): RegistryWorkerEntry {
    const entry: RegistryWorkerEntry = new WorkerEntry<HiveView>(record, worker);
    entry.refresh();
    record.schedulingEntries.set(worker.workerId, entry);
    this.models.add(entry);
    return entry;
  }

  /** Points the entry at the worker's latest telemetry, moving it to another model list if needed. */
  updateWorker(entry: RegistryWorkerEntry, worker: WorkerTelemetry): void {
    const moved = entry.worker.model !== worker.model;
    if (moved) this.models.remove(entry);
    entry.worker = worker;
    entry.refresh();
    if (moved) this.models.add(entry);
  }

  removeWorker(record: HiveRecord, workerId: string): void {
    const entry = record.schedulingEntries.get(workerId);
    if (!entry) throw new Error(`scheduling index: worker ${record.hiveId}/${workerId} has no entry`);
    this.models.remove(entry);
    record.schedulingEntries.delete(workerId);
  }
}

/** FNV-1a over the UTF-16 code units of the id: cheap and well spread for host-like names. */
export function shardOf(hiveId: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < hiveId.length; i++) {
    h ^= hiveId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}
