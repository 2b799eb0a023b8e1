import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { HiveHealth, ObjectEventLevel, ObjectEventSchema, type HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import { GpuProbeState, WorkerState, type CollectionError, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { Clock } from "../../common/clock.js";
import { ObjectEventLog, objectKey, type ObjectEventLogOptions } from "./object-event-log.js";
import { ChangeType, type RegistryEvent, type RegistryReadView } from "./registry.js";

interface HiveMemo {
  health: HiveHealth;
  incarnation: string;
  connected: boolean;
  probe: GpuProbeState;
  errors: string;
}

interface WorkerMemo {
  state: WorkerState;
  /** next_restart_at while in BACKOFF: each back-off has its own, even when no RUNNING report came between. */
  backoff: string;
  pid: number;
  restartCount: number;
  errors: string;
}

/** `key` tells repeats apart (default: the message); messages may carry changing numbers. */
type Event = { level: ObjectEventLevel; reason: string; message: string; key?: string };
const normal = (reason: string, message: string): Event => ({ level: ObjectEventLevel.NORMAL, reason, message });
const warning = (reason: string, message: string): Event => ({ level: ObjectEventLevel.WARNING, reason, message });

function errorsKey(errors: readonly CollectionError[]): string {
  if (errors.length === 0) return "";
  return errors.map((e) => `${e.source}: ${e.message}`).sort().join("\n");
}

/** Which sources failed: a repeat of the same failure with other numbers in its message is the same event. */
function sourcesKey(errors: readonly CollectionError[]): string {
  return [...new Set(errors.map((e) => e.source))].sort().join(",");
}

function exitText(w: WorkerTelemetry): string {
  if (w.exitSignal) return `signal ${w.exitSignal}`;
  return w.exitCode === undefined ? "exit status unknown" : `exit code ${w.exitCode}`;
}

function isOomKill(w: WorkerTelemetry): boolean {
  return w.reason === "OOMKilled" || w.errors.some((e) => e.message.startsWith("OOM"));
}

/**
 * Keeps recent events of every hive and worker (health changes, restarts, exits, OOM kills,
 * back-off, collection errors), derived from the registry's change stream. Remembers only the
 * last state of each object the registry holds, and forgets an object's events when the registry
 * removes it (eviction of a hive, removal of an ended worker).
 */
export class ObjectEvents {
  readonly log: ObjectEventLog;
  private readonly hives = new Map<string, HiveMemo>();
  /** Per hive, per worker id. */
  private readonly workers = new Map<string, Map<string, WorkerMemo>>();
  private readonly unsubscribe: () => void;

  constructor(registry: RegistryReadView, private readonly clock: Clock, options: ObjectEventLogOptions = {}) {
    this.log = new ObjectEventLog(options);
    this.unsubscribe = registry.subscribe((event) => this.onChange(event));
  }

  close(): void {
    this.unsubscribe();
  }

  list(hiveId: string, workerId = "", limit = 0) {
    return this.log.list(objectKey(hiveId, workerId), limit);
  }

  private onChange(change: RegistryEvent): void {
    if (change.kind === "hive") this.onHive(change.type, change.hive, change.revision);
    else this.onWorker(change.type, change.hiveId, change.worker, change.revision);
  }

  private add(hiveId: string, workerId: string, revision: number, event: Event): void {
    const at = timestampFromMs(this.clock.wallMs());
    const { key, ...fields } = event;
    const record = create(ObjectEventSchema, { at, hiveId, workerId, revision: BigInt(revision), ...fields });
    this.log.append(objectKey(hiveId, workerId), record, key);
    // A worker's end, restart and back-off also go to its hive's log, which outlives the worker.
    if (workerId !== "" && event.reason !== "CollectionError" && event.reason !== "Started") {
      const message = `worker ${workerId}: ${event.message}`;
      this.log.append(objectKey(hiveId), create(ObjectEventSchema, { ...record, message }), `worker ${workerId}: ${key ?? event.message}`);
    }
  }

  private onHive(type: ChangeType, hive: HiveStatus, revision: number): void {
    const hiveId = hive.info?.hiveId ?? "";
    if (type === ChangeType.Removed) {
      this.hives.delete(hiveId);
      this.workers.delete(hiveId);
      this.log.deleteHive(hiveId);
      return;
    }
    const probe = hive.gpuProbe?.state ?? GpuProbeState.UNSPECIFIED;
    const errors = errorsKey(hive.errors);
    const before = this.hives.get(hiveId);
    // A report that changed only numbers (GPU utilisation, memory): nothing to log, nothing to keep.
    if (before && before.health === hive.health && before.incarnation === hive.incarnation && before.connected === hive.connected && before.probe === probe && before.errors === errors) return;
    const now: HiveMemo = { health: hive.health, incarnation: hive.incarnation, connected: hive.connected, probe, errors };
    this.hives.set(hiveId, now);
    if (!before) {
      this.add(hiveId, "", revision, normal("Joined", `hive said hello from ${hive.info?.hostname ?? "?"} (incarnation ${hive.incarnation}, endpoint ${hive.info?.endpoint ?? "?"})`));
      return;
    }
    if (before.incarnation !== now.incarnation) {
      this.add(hiveId, "", revision, normal("Restarted", `new hive process (incarnation ${now.incarnation})`));
    }
    if (before.connected && !now.connected) this.add(hiveId, "", revision, warning("Disconnected", "heartbeat stream ended without goodbye"));
    if (before.health !== now.health) {
      const text = `${HiveHealth[before.health]} → ${HiveHealth[now.health]}`;
      this.add(hiveId, "", revision, now.health === HiveHealth.HEALTHY ? normal("HealthChanged", text) : warning("HealthChanged", text));
    }
    const firstOk = before.probe === GpuProbeState.UNSPECIFIED && now.probe === GpuProbeState.OK;
    if (before.probe !== now.probe && now.probe !== GpuProbeState.UNSPECIFIED && !firstOk) {
      const transition = `GPU probe ${GpuProbeState[before.probe]} → ${GpuProbeState[now.probe]}`;
      const text = `${transition}${hive.gpuProbe?.message ? `: ${hive.gpuProbe.message}` : ""}`;
      this.add(hiveId, "", revision, { ...(now.probe === GpuProbeState.OK ? normal("GpuProbe", text) : warning("GpuProbe", text)), key: transition });
    }
    if (before.errors !== now.errors && now.errors !== "") {
      this.add(hiveId, "", revision, { ...warning("CollectionError", now.errors.replaceAll("\n", "; ")), key: sourcesKey(hive.errors) });
    }
  }

  private onWorker(type: ChangeType, hiveId: string, w: WorkerTelemetry, revision: number): void {
    let memos = this.workers.get(hiveId);
    if (type === ChangeType.Removed) {
      memos?.delete(w.workerId);
      if (memos?.size === 0) this.workers.delete(hiveId);
      this.log.delete(objectKey(hiveId, w.workerId));
      return;
    }
    const backoff = w.state === WorkerState.BACKOFF && w.nextRestartAt ? `${w.nextRestartAt.seconds}.${w.nextRestartAt.nanos}` : "";
    const errors = errorsKey(w.errors);
    if (memos === undefined) this.workers.set(hiveId, (memos = new Map()));
    const before = memos.get(w.workerId);
    // Most reports change only numbers: the memo stays as it is (no object per worker per report).
    if (before && before.state === w.state && before.backoff === backoff && before.pid === w.pid && before.restartCount === w.restartCount && before.errors === errors) return;
    const now: WorkerMemo = { state: w.state, backoff, pid: w.pid, restartCount: w.restartCount, errors };
    memos.set(w.workerId, now);
    const id = w.workerId;
    if (!before) {
      this.add(hiveId, id, revision, normal("Started", `pid ${w.pid}${w.model ? `, model ${w.model}` : ""}${w.restartCount > 0 ? `, ${w.restartCount} restarts so far` : ""}`));
    } else if (now.restartCount > before.restartCount) {
      this.add(hiveId, id, revision, { ...normal("Restarted", `restart ${now.restartCount}, pid ${w.pid}`), key: "" });
    }
    const changedState = !before || before.state !== now.state || before.backoff !== now.backoff;
    if (changedState) this.onWorkerState(hiveId, w, revision);
    if ((!before || before.errors !== now.errors) && now.errors !== "" && now.state === WorkerState.RUNNING) {
      this.add(hiveId, id, revision, { ...warning("CollectionError", now.errors.replaceAll("\n", "; ")), key: sourcesKey(w.errors) });
    }
  }

  private onWorkerState(hiveId: string, w: WorkerTelemetry, revision: number): void {
    const id = w.workerId;
    if (w.state === WorkerState.EXITED) this.add(hiveId, id, revision, normal("Exited", exitText(w)));
    else if (w.state === WorkerState.FAILED) {
      this.add(hiveId, id, revision, isOomKill(w) ? warning("OOMKilled", `${exitText(w)}: the cgroup reached its memory limit`) : warning("Failed", exitText(w)));
    } else if (w.state === WorkerState.BACKOFF) {
      const last = w.lastExit;
      const lastText = last ? (last.reason || (last.exitSignal ? `signal ${last.exitSignal}` : `exit code ${last.exitCode ?? "?"}`)) : "ended";
      if (last && last.reason.startsWith("OOM")) this.add(hiveId, id, revision, { ...warning("OOMKilled", last.reason), key: "" });
      const when = w.nextRestartAt ? ` at ${timestampDate(w.nextRestartAt).toISOString()}` : "";
      this.add(hiveId, id, revision, { ...warning("BackOff", `${lastText}; restart ${w.restartCount + 1}${when}`), key: lastText });
    }
  }
}
