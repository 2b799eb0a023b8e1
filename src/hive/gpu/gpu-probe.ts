import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import {
  CollectionErrorSchema,
  GpuProbeState,
  GpuProbeStatusSchema,
  type CollectionError,
  type GpuDevice,
  type GpuProbeStatus,
  type XidCount,
  type XidEvent,
} from "../../../gen/apiary/v1/telemetry_pb.js";
import { mergeGpuProcesses, type GpuProcessUsage } from "./merge-gpu-processes.js";
import { COMPUTE_APPS_ARGS, parseComputeApps } from "./parse-compute-apps.js";
import { PMON_ARGS, parsePmon } from "./parse-pmon.js";
import { queryGpuArgs, queryGpuFields, parseQueryGpu } from "./parse-query-gpu.js";
import { healthFields, rejectedField, type ClockReasonFamily } from "./parse-gpu-health-fields.js";
import { judgeGpu, type XidSeen } from "./gpu-health-verdict.js";
import { runWithDeadline } from "./run-with-deadline.js";
import { migDevices, placeMigProcesses } from "./mig-devices.js";
import { parseListGpus } from "./parse-list-gpus.js";
import { parseMigTable } from "./parse-mig-table.js";
import { interpretSmiCall } from "./smi-call.js";

export type { GpuProcessUsage } from "./merge-gpu-processes.js";

export interface GpuSnapshot {
  devices: GpuDevice[];
  processes: GpuProcessUsage[];
  status: GpuProbeStatus;
  /** Failures of secondary sources (source "gpu.compute-apps", "gpu.pmon") while devices are OK. */
  errors: CollectionError[];
  /** Wall-clock time at which this snapshot's status was decided (0 before the first probe). */
  probedAtMs: number;
}

export interface GpuProbeOptions {
  /** Default "nvidia-smi" (looked up in PATH). */
  nvidiaSmiPath?: string;
  /** Hard deadline of each nvidia-smi call; default 2000 ms. */
  deadlineMs?: number;
  /** SIGTERM → SIGKILL grace after the deadline; default 500 ms. */
  killGraceMs?: number;
  logger: Logger;
  /** false: never runs nvidia-smi, reports NOT_FOUND "disabled". Default true. */
  enabled?: boolean;
  /** Environment of the nvidia-smi processes; default this process's. */
  env?: NodeJS.ProcessEnv;
  /** Told about every probe's outcome (metrics). */
  observer?: GpuProbeObserver;
  /** Xid codes never judged (--gpu-health-ignore-xid). */
  ignoreXids?: ReadonlySet<number>;
  /** Xid events of the kernel log by PCI bus id (normalised, see normalizeBusId); polled once per round; default none. */
  xids?: XidSource;
}

/** What a probe tells its observer: each answer's state, each round's duration, each call killed at its deadline. */
/** Where the probe gets Xid events from (src/hive/kmsg/xid-monitor.ts). */
export interface XidSource {
  /** Reads new kernel-log lines; answers the standing error (one, not one per tick), if any. */
  poll(): CollectionError | undefined;
  history(busId: string): { seen: XidSeen[]; recent: XidEvent[]; counts: XidCount[] };
}

export interface GpuProbeObserver {
  /** A probe() answer: a finished round, a disabled probe, or TIMEOUT because a round is still running. */
  outcome(state: GpuProbeState): void;
  /** A round of nvidia-smi calls finished (by itself or by its deadline). */
  round(durationMs: number): void;
  /** An nvidia-smi process group was signalled at its deadline. */
  killed(): void;
}

const DEFAULT_DEADLINE_MS = 2000;
const DEFAULT_KILL_GRACE_MS = 500;

function status(state: GpuProbeState, message: string, lastSuccessMs: number | undefined): GpuProbeStatus {
  return create(GpuProbeStatusSchema, {
    state,
    message,
    ...(lastSuccessMs !== undefined ? { lastSuccessAt: timestampFromMs(lastSuccessMs) } : {}),
  });
}

/**
 * The hive's GPU probe: one round of three concurrent nvidia-smi calls per probe(),
 * each with a hard deadline, single-flight so a hung driver never piles up processes.
 */
export class GpuProbe {
  private readonly path: string;
  private readonly deadlineMs: number;
  private readonly killGraceMs: number;
  private readonly log: Logger;
  private readonly enabled: boolean;
  private readonly env: NodeJS.ProcessEnv | undefined;
  private readonly observer: GpuProbeObserver | undefined;
  private snapshot: GpuSnapshot;
  private running: Promise<GpuSnapshot> | undefined;
  private runningSinceMs = 0;
  private spawned = 0;
  private lastSuccessMs: number | undefined;
  private closed = false;
  private loggedStateKey = "";
  private loggedErrorSources = "";
  private warnedStillRunning = false;
  private clockFamily: ClockReasonFamily = "clocks_event_reasons";
  private readonly rejectedFields = new Set<string>();
  private readonly lastUncorrectedAggregate = new Map<string, bigint>();
  private readonly ignoreXids: ReadonlySet<number>;
  private readonly xids: XidSource | undefined;

  constructor(opts: GpuProbeOptions) {
    this.path = opts.nvidiaSmiPath ?? "nvidia-smi";
    this.deadlineMs = opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.killGraceMs = opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.log = opts.logger;
    this.enabled = opts.enabled ?? true;
    this.env = opts.env;
    this.observer = opts.observer;
    this.ignoreXids = opts.ignoreXids ?? new Set();
    this.xids = opts.xids;
    this.snapshot = {
      devices: [],
      processes: [],
      status: status(GpuProbeState.UNSPECIFIED, "not probed yet", undefined),
      errors: [],
      probedAtMs: 0,
    };
  }

  /** Never throws. While a probe runs, answers at once with the last devices and status TIMEOUT. */
  probe(): Promise<GpuSnapshot> {
    if (this.closed) return Promise.resolve(this.snapshot);
    if (!this.enabled) {
      this.snapshot = {
        devices: [],
        processes: [],
        errors: [],
        probedAtMs: Date.now(),
        status: status(GpuProbeState.NOT_FOUND, "GPU probe disabled by configuration", undefined),
      };
      this.observer?.outcome(GpuProbeState.NOT_FOUND);
      return Promise.resolve(this.snapshot);
    }
    if (this.running) {
      const sinceMs = Math.round(Date.now() - this.runningSinceMs);
      const message = `a GPU probe is still running since ${sinceMs} ms; not starting another`;
      if (!this.warnedStillRunning) {
        this.warnedStillRunning = true;
        this.log.warn({ sinceMs }, "gpu probe still running, skipping this tick");
      }
      this.observer?.outcome(GpuProbeState.TIMEOUT);
      return Promise.resolve({
        ...this.snapshot,
        status: status(GpuProbeState.TIMEOUT, message, this.lastSuccessMs),
        probedAtMs: Date.now(),
      });
    }
    this.runningSinceMs = Date.now();
    this.warnedStillRunning = false;
    const round = this.runRound().catch((e: unknown) => this.fail(GpuProbeState.ERROR, `GPU probe failed: ${String(e)}`));
    this.running = round;
    void round.then((snapshot) => {
      this.running = undefined;
      this.observer?.round(Date.now() - this.runningSinceMs);
      this.observer?.outcome(snapshot.status.state);
    });
    return round;
  }

  last(): GpuSnapshot {
    return this.snapshot;
  }

  inFlight(): boolean {
    return this.running !== undefined;
  }

  /** How many nvidia-smi processes this probe started (spawn attempts). */
  invocations(): number {
    return this.spawned;
  }

  /** Stops probing; waits for a running probe, which ends by its deadline + grace. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
  }

  private async run(args: readonly string[]) {
    this.spawned++;
    const result = await runWithDeadline(this.path, args, {
      deadlineMs: this.deadlineMs,
      killGraceMs: this.killGraceMs,
      ...(this.env ? { env: this.env } : {}),
    });
    if (result.kind === "timeout") this.observer?.killed();
    return result;
  }

  /** Which clock-reason field family the driver answered to ("clocks_event_reasons" until told otherwise). */
  clockReasonFamily(): ClockReasonFamily {
    return this.clockFamily;
  }

  /**
   * One --query-gpu call. A driver that rejects a health field (older drivers know
   * clocks_throttle_reasons.* but not clocks_event_reasons.*, or lack remapped_rows.*) answers at
   * once; the field list is corrected, remembered for every later round, and the call is made once more.
   */
  private async queryGpu() {
    let fields = queryGpuFields(this.clockFamily, this.rejectedFields);
    let run = await this.run(queryGpuArgs(fields));
    if (run.kind !== "exit-error") return { run, fields };
    const field = rejectedField(`${run.stdout}\n${run.stderr}`);
    if (!field || !healthFields(this.clockFamily).includes(field)) return { run, fields };
    if (field.startsWith(`${this.clockFamily}.`) && this.clockFamily === "clocks_event_reasons") {
      this.clockFamily = "clocks_throttle_reasons";
      this.log.info({ rejected: field }, "driver knows clocks_throttle_reasons.*, not clocks_event_reasons.*");
    } else {
      this.rejectedFields.add(field);
      this.log.info({ rejected: field }, "driver does not know this health field; not asking again");
    }
    fields = queryGpuFields(this.clockFamily, this.rejectedFields);
    run = await this.run(queryGpuArgs(fields));
    return { run, fields };
  }

  private judge(devices: GpuDevice[]): void {
    for (const d of devices) {
      const previous = this.lastUncorrectedAggregate.get(d.uuid);
      const xids = d.pciBusId ? this.xids?.history(normalizeBusId(d.pciBusId)) : undefined;
      d.health = judgeGpu(d, previous, xids?.seen ?? [], { ignoreXids: this.ignoreXids });
      if (xids) {
        d.health.recentXids = xids.recent;
        d.health.xidCounts = xids.counts;
      }
      const now = d.health.ecc?.uncorrectedAggregate;
      if (now !== undefined) this.lastUncorrectedAggregate.set(d.uuid, now);
    }
  }

  private async runRound(): Promise<GpuSnapshot> {
    const [{ run: gpuRun, fields }, appsRun, pmonRun] = await Promise.all([
      this.queryGpu(),
      this.run(COMPUTE_APPS_ARGS),
      this.run(PMON_ARGS),
    ]);
    const ctx = { path: this.path, deadlineMs: this.deadlineMs };
    const gpus = interpretSmiCall("nvidia-smi --query-gpu", gpuRun, (t) => parseQueryGpu(t, fields), ctx);
    if (!gpus.ok) return this.fail(gpus.state, gpus.message);
    if (gpus.value.length === 0) return this.fail(GpuProbeState.NOT_FOUND, "nvidia-smi listed no GPUs");

    const errors: CollectionError[] = [];
    const apps = interpretSmiCall("nvidia-smi --query-compute-apps", appsRun, (t) => parseComputeApps(t), ctx);
    if (!apps.ok) errors.push(create(CollectionErrorSchema, { source: "gpu.compute-apps", message: apps.message }));
    const pmon = interpretSmiCall("nvidia-smi pmon", pmonRun, parsePmon, ctx);
    if (!pmon.ok) errors.push(create(CollectionErrorSchema, { source: "gpu.pmon", message: pmon.message }));

    const kmsgError = this.xids?.poll();
    if (kmsgError) errors.push(kmsgError);
    this.judge(gpus.value);
    let processes = mergeGpuProcesses(gpus.value, apps.ok ? apps.value : [], pmon.ok ? pmon.value : []);
    if (gpus.value.some((d) => d.migModeCurrent === true)) {
      // Only on a GPU with MIG enabled: two more calls, for the instances and their memory and processes.
      const [listRun, tableRun] = await Promise.all([this.run(["-L"]), this.run([])]);
      const listed = interpretSmiCall("nvidia-smi -L", listRun, parseListGpus, ctx);
      const table = interpretSmiCall("nvidia-smi", tableRun, (t) => ({ ok: true as const, value: parseMigTable(t), warnings: [] }), ctx);
      if (!listed.ok) errors.push(create(CollectionErrorSchema, { source: "gpu.mig", message: listed.message }));
      else {
        const migTable = table.ok ? table.value : { instances: [], processes: [] };
        if (!table.ok) errors.push(create(CollectionErrorSchema, { source: "gpu.mig", message: table.message }));
        const parents = [...gpus.value];
        gpus.value.push(...migDevices(parents, listed.value, migTable));
        processes = placeMigProcesses(processes, parents, listed.value, migTable);
      }
    }
    const now = Date.now();
    this.lastSuccessMs = now;
    const message = gpus.warnings.length > 0 ? `${gpus.value.length} GPU(s); ${gpus.warnings[0]}` : `${gpus.value.length} GPU(s)`;
    this.snapshot = {
      devices: gpus.value,
      processes,
      status: status(GpuProbeState.OK, message, now),
      errors,
      probedAtMs: now,
    };
    this.logChanges();
    return this.snapshot;
  }

  /** NOT_FOUND clears the devices; TIMEOUT and ERROR keep the last known ones. */
  private fail(state: GpuProbeState, message: string): GpuSnapshot {
    const keep = state !== GpuProbeState.NOT_FOUND;
    this.snapshot = {
      devices: keep ? this.snapshot.devices : [],
      processes: keep ? this.snapshot.processes : [],
      status: status(state, message, this.lastSuccessMs),
      errors: [],
      probedAtMs: Date.now(),
    };
    this.logChanges();
    return this.snapshot;
  }

  private logChanges(): void {
    const s = this.snapshot;
    const stateName = GpuProbeState[s.status.state];
    const key = s.status.state === GpuProbeState.OK ? `OK:${s.devices.length}` : `${stateName}:${s.status.message}`;
    if (key !== this.loggedStateKey) {
      const first = this.loggedStateKey === "";
      this.loggedStateKey = key;
      const fields = { state: stateName, message: s.status.message, devices: s.devices.length };
      if (s.status.state === GpuProbeState.OK || (first && s.status.state === GpuProbeState.NOT_FOUND)) {
        this.log.info(fields, "gpu probe state");
      } else {
        this.log.warn(fields, "gpu probe state");
      }
    }
    const sources = s.errors.map((e) => e.source).join(",");
    if (sources !== this.loggedErrorSources) {
      this.loggedErrorSources = sources;
      if (sources) this.log.warn({ errors: s.errors.map((e) => ({ source: e.source, message: e.message })) }, "gpu probe source failing");
      else this.log.info("gpu probe sources recovered");
    }
  }
}

export type { GpuDevice };

/** "00000000:3B:00.0" (nvidia-smi) and "0000:3b:00" (kernel Xid lines) → "0000:3b:00". */
export function normalizeBusId(busId: string): string {
  const m = /^(?:([0-9a-f]{4,8}):)?([0-9a-f]{2}):([0-9a-f]{2})(?:\.[0-7])?$/i.exec(busId.trim());
  if (!m) return busId.trim().toLowerCase();
  const domain = (m[1] ?? "0000").slice(-4);
  return `${domain}:${m[2]}:${m[3]}`.toLowerCase();
}
