import { equals } from "@bufbuild/protobuf";
import { EventType, HiveStatusSchema, type FindWorkersRequest, type FindWorkersResponse, type HiveStatus } from "../../gen/apiary/v1/queen_pb.js";
import { WorkerTelemetrySchema, type WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { answerFindWorkers, hiveFilterOf } from "../contracts/find-workers-query.js";
import { hiveMatches } from "../contracts/hive-match.js";
import { ModelLists, type SchedulingEntry } from "../contracts/scheduling-entry.js";
import { CachedHive, CachedWorker } from "./cached-worker.js";
import { isPickable, PickCandidates } from "./pick-candidates.js";

export type ChangeType = "added" | "updated" | "removed";

/** One change the informer's cache went through, as its handlers receive it. */
export type InformerChange =
  | { kind: "worker"; type: ChangeType; worker: CachedWorker; previous: WorkerTelemetry | undefined }
  | { kind: "hive"; type: ChangeType; hive: HiveStatus; previous: HiveStatus | undefined };

/**
 * The informer's cache: hives and workers from Watch events, indexed by model (every worker, for
 * find), by hive, by hive label, and, per model, the pickable workers sorted for each pick policy.
 * Applying an event costs O(log n) per worker it touches; it returns the changes it made, so that
 * an event that changes nothing (a fresh snapshot's ADDED for an object held as is) fires nothing.
 */
export class InformerIndex {
  readonly hives = new Map<string, CachedHive>();
  private readonly models = new ModelLists<CachedWorker>();
  private readonly candidates = new Map<string, PickCandidates>();
  private readonly byLabel = new Map<string, Set<CachedHive>>();

  workerCount(): number {
    return this.models.size();
  }

  /** Pickable workers of the model (RUNNING, on a HEALTHY hive); undefined when none ever was. */
  candidatesOf(model: string): PickCandidates | undefined {
    return this.candidates.get(model);
  }

  /** The hives carrying the label with the value (that the Watch sent: labels of hives, not workers). */
  hivesWithLabel(key: string, value: string): ReadonlySet<CachedHive> {
    return this.byLabel.get(labelKey(key, value)) ?? new Set();
  }

  /**
   * `snapshot`: the event is part of a snapshot, where an ADDED may repeat an object held (a
   * resume on another queen): it is compared with what is held. A live event is a change.
   */
  applyHive(type: EventType, status: HiveStatus, snapshot: boolean): InformerChange[] {
    const id = status.info?.hiveId ?? "";
    const hive = this.hives.get(id);
    if (type === EventType.REMOVED) return hive ? this.removeHive(hive) : [];
    const previous = hive?.status;
    if (previous && snapshot && equals(HiveStatusSchema, previous, status)) return [];
    const target = hive ?? this.newHive(id);
    this.unlabel(target);
    target.setStatus(status);
    this.label(target);
    for (const w of target.workers.values()) this.reindex(w);
    return [{ kind: "hive", type: previous ? "updated" : "added", hive: status, previous }];
  }

  applyWorker(type: EventType, hiveId: string, worker: WorkerTelemetry, snapshot: boolean): InformerChange[] {
    const hive = this.hives.get(hiveId);
    const held = hive?.workers.get(worker.workerId);
    if (type === EventType.REMOVED) {
      if (!held) return [];
      this.removeWorker(held);
      return [{ kind: "worker", type: "removed", worker: held, previous: held.worker }];
    }
    if (held) {
      if (snapshot && equals(WorkerTelemetrySchema, held.worker, worker)) return [];
      const previous = held.worker;
      if (previous.model !== worker.model) {
        this.models.remove(held);
        this.candidates.get(previous.model)?.remove(held);
        held.worker = worker;
        this.models.add(held);
      } else {
        held.worker = worker;
      }
      held.dispatched = 0;
      this.reindex(held);
      return [{ kind: "worker", type: "updated", worker: held, previous }];
    }
    // A worker before its hive (the hive's event is filtered out or not yet sent) waits under a
    // placeholder hive that counts as DOWN.
    const owner = hive ?? this.newHive(hiveId);
    const added = new CachedWorker(owner, worker);
    owner.workers.set(worker.workerId, added);
    this.models.add(added);
    this.reindex(added);
    return [{ kind: "worker", type: "added", worker: added, previous: undefined }];
  }

  /** FindWorkers over the cache (a request with defaults filled, as the queen's handler gets it). */
  find(req: FindWorkersRequest, revision: bigint): FindWorkersResponse {
    return answerFindWorkers(this.listsFor(req), req, revision);
  }

  /** Re-sorts a pickable worker by load after its dispatched count changed. */
  loadChanged(w: CachedWorker): void {
    if (w.candidateSlot !== -1) this.candidates.get(w.worker.model)?.loadChanged(w);
  }

  /** Lists holding only workers of the request's model and hive_ids, looked up rather than scanned. */
  private *listsFor(req: FindWorkersRequest): Iterable<readonly SchedulingEntry[]> {
    const model = req.model;
    const ofModel = (hive: CachedHive) => [...hive.workers.values()].filter((w) => model === "" || w.worker.model === model);
    if (req.hiveIds.length > 0) {
      const filter = hiveFilterOf(req);
      for (const id of new Set(req.hiveIds)) {
        const hive = this.hives.get(id);
        if (hive && hiveMatches(hive, filter)) yield ofModel(hive);
      }
      return;
    }
    if (model !== "") {
      const list = this.models.byModel.get(model);
      if (list) yield list;
      return;
    }
    const labels = Object.entries(req.hiveLabels);
    if (labels.length > 0) {
      // Without a model: only the hives that carry the rarest of the wanted labels.
      let fewest: ReadonlySet<CachedHive> | undefined;
      for (const [k, v] of labels) {
        const hives = this.hivesWithLabel(k, v);
        if (!fewest || hives.size < fewest.size) fewest = hives;
      }
      for (const hive of fewest!) yield ofModel(hive);
      return;
    }
    yield* this.models.byModel.values();
  }

  private newHive(id: string): CachedHive {
    const hive = new CachedHive(id);
    this.hives.set(id, hive);
    return hive;
  }

  /** Recomputes the worker's numbers and its place among its model's pick candidates. */
  private reindex(w: CachedWorker): void {
    w.refresh();
    const model = w.worker.model;
    if (isPickable(w)) {
      let c = this.candidates.get(model);
      if (!c) this.candidates.set(model, (c = new PickCandidates()));
      c.upsert(w);
    } else {
      this.candidates.get(model)?.remove(w);
    }
  }

  private removeWorker(w: CachedWorker): void {
    const hive = w.hive;
    hive.workers.delete(w.worker.workerId);
    this.models.remove(w);
    this.candidates.get(w.worker.model)?.remove(w);
    if (hive.status === undefined && hive.workers.size === 0) this.hives.delete(hive.hiveId);
  }

  /** The hive and whatever workers of it are still held (the queen sends theirs first). */
  private removeHive(hive: CachedHive): InformerChange[] {
    const changes: InformerChange[] = [];
    for (const w of [...hive.workers.values()]) {
      this.removeWorker(w);
      changes.push({ kind: "worker", type: "removed", worker: w, previous: w.worker });
    }
    this.unlabel(hive);
    this.hives.delete(hive.hiveId);
    if (hive.status) changes.push({ kind: "hive", type: "removed", hive: hive.status, previous: hive.status });
    return changes;
  }

  private label(hive: CachedHive): void {
    for (const [k, v] of Object.entries(hive.info.labels)) {
      const key = labelKey(k, v);
      let set = this.byLabel.get(key);
      if (!set) this.byLabel.set(key, (set = new Set()));
      set.add(hive);
    }
  }

  private unlabel(hive: CachedHive): void {
    for (const [k, v] of Object.entries(hive.info.labels)) {
      const key = labelKey(k, v);
      const set = this.byLabel.get(key);
      set?.delete(hive);
      if (set?.size === 0) this.byLabel.delete(key);
    }
  }
}

const labelKey = (key: string, value: string) => `${key}\u0000${value}`;
