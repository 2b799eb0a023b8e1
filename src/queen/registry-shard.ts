import { HiveHealth } from "../../gen/apiary/v1/queen_pb.js";
import type { CollectionError, GpuDevice, GpuProbeStatus, HiveInfo, WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import type { HiveView } from "./registry.js";

/** The mutable state of one hive inside its shard. */
export class HiveRecord implements HiveView {
  health: HiveHealth = HiveHealth.HEALTHY;
  connected = true;
  lastSeq = 0n;
  devices: readonly GpuDevice[] = [];
  devicesByUuid: Map<string, GpuDevice> = new Map();
  workers: Map<string, WorkerTelemetry> = new Map();
  gpuProbe: GpuProbeStatus | undefined = undefined;
  memoryAvailableBytes: bigint | undefined = undefined;
  errors: readonly CollectionError[] = [];

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

/** One shard: its hives and the model → hive → worker ids index over them. */
export class RegistryShard {
  readonly hives = new Map<string, HiveRecord>();
  readonly modelIndex = new Map<string, Map<string, Set<string>>>();
  private workers = 0;

  workerCount(): number {
    return this.workers;
  }

  indexWorker(hiveId: string, model: string, workerId: string): void {
    let byHive = this.modelIndex.get(model);
    if (!byHive) this.modelIndex.set(model, (byHive = new Map()));
    let ids = byHive.get(hiveId);
    if (!ids) byHive.set(hiveId, (ids = new Set()));
    ids.add(workerId);
    this.workers++;
  }

  unindexWorker(hiveId: string, model: string, workerId: string): void {
    const byHive = this.modelIndex.get(model);
    const ids = byHive?.get(hiveId);
    if (!byHive || !ids || !ids.delete(workerId)) throw new Error(`model index: worker ${hiveId}/${workerId} missing under "${model}"`);
    this.workers--;
    if (ids.size === 0) byHive.delete(hiveId);
    if (byHive.size === 0) this.modelIndex.delete(model);
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
