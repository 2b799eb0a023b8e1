import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { HiveHealth, type HiveStatus } from "../../gen/apiary/v1/queen_pb.js";
import { HiveInfoSchema, type GpuDevice, type HiveInfo } from "../../gen/apiary/v1/telemetry_pb.js";
import { devicesByUuid, WorkerEntry, type SchedulingHive } from "../contracts/scheduling-entry.js";

/** A hive as the informer holds it: the last HiveStatus the Watch sent, and its workers. */
export class CachedHive implements SchedulingHive {
  info: HiveInfo;
  health: HiveHealth = HiveHealth.DOWN;
  lastSeenWallMs = 0;
  devicesByUuid: ReadonlyMap<string, GpuDevice> = new Map();
  /** The last HiveStatus received; undefined while only workers of the hive have been seen. */
  status: HiveStatus | undefined;
  readonly workers = new Map<string, CachedWorker>();

  constructor(readonly hiveId: string) {
    // Until its hive event arrives a hive counts as DOWN: FindWorkers and pick never return its workers.
    this.info = create(HiveInfoSchema, { hiveId });
  }

  /** Takes a new status (its workers then need a refresh: devices or health may have changed). */
  setStatus(status: HiveStatus): void {
    this.status = status;
    this.info = status.info ?? create(HiveInfoSchema, { hiveId: this.hiveId });
    this.health = status.health;
    this.lastSeenWallMs = status.lastSeen ? timestampMs(status.lastSeen) : 0;
    this.devicesByUuid = devicesByUuid(status.devices);
  }
}

/**
 * A worker as the informer holds it: the WorkerTelemetry last received and the numbers pick and
 * find compare (free VRAM, GPU utilisation, engine load; NaN when unknown), kept current.
 * Read-only for callers: the informer replaces `worker` when an update arrives.
 */
export class CachedWorker extends WorkerEntry<CachedHive> {
  /** `<hive_id>/<worker_id>`, unique in the cluster. */
  readonly key: string;
  /**
   * Requests sent to this worker (see Informer.recordDispatch) since its last update arrived:
   * least-loaded counts them as waiting, so picks between two reports spread out.
   */
  dispatched = 0;
  /** Position in its model's pick candidates; -1 when not a candidate. */
  candidateSlot = -1;
  /** Positions in the candidates' heaps by load and by free VRAM. */
  loadSlot = -1;
  vramSlot = -1;

  constructor(hive: CachedHive, worker: CachedWorker["worker"]) {
    super(hive, worker);
    this.key = `${hive.hiveId}/${worker.workerId}`;
  }

  get hiveId(): string {
    return this.hive.hiveId;
  }
}
