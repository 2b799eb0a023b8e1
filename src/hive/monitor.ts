import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import {
  CollectionErrorSchema,
  GpuProbeState,
  GpuProbeStatusSchema,
  HiveReportSchema,
  type CollectionError,
  type GpuDevice,
  type GpuProbeStatus,
  type HiveReport,
} from "../../gen/apiary/v1/telemetry_pb.js";
import { awaitWithin, pause } from "../common/wait.js";
import { EndedWorkers, isFinal } from "./ended-workers.js";
import { attributeGpuUse } from "./gpu-attribution.js";
import type { GpuProcessUsage } from "./gpu/merge-gpu-processes.js";
import type { WorkerSample } from "./workers/worker-supervisor.js";
import { withEngineLoad, type EngineOutcome } from "./engine/engine-scraper.js";
import { readMemInfo } from "./procfs/meminfo.js";

/** What the monitor needs of the hive-wide GPU probe (GpuProbe satisfies it). */
export interface GpuSnapshotView {
  devices: GpuDevice[];
  processes: GpuProcessUsage[];
  status: GpuProbeStatus;
  errors: CollectionError[];
}
export interface GpuProber {
  /** Never rejects. */
  probe(): Promise<GpuSnapshotView>;
  last(): GpuSnapshotView | undefined;
}

/** What the monitor needs of the worker supervisor (WorkerSupervisor satisfies it). */
export interface WorkerSampler {
  /** Never rejects; exited workers appear once. */
  sample(): Promise<WorkerSample[]>;
}

export type ReportListener = (report: HiveReport) => void;

export interface MonitorOptions {
  sampler: WorkerSampler;
  gpu: GpuProber;
  logger: Logger;
  /** Time between tick starts; default 1000 ms. */
  intervalMs?: number;
  /** The most a tick waits for its sources; default 80 % of the interval. */
  tickDeadlineMs?: number;
  /**
   * The GPU probe's own deadline (nvidia-smi's). A probe merely slower than a tick is not a
   * timeout: until it has run this long, ticks report the last completed probe as it was.
   * Default: the tick deadline.
   */
  probeDeadlineMs?: number;
  /** Memory available on the machine in bytes; default: MemAvailable from /proc/meminfo. */
  readMemoryAvailable?: () => Promise<bigint>;
  /**
   * Carry an ended worker's final telemetry in every report until delivered() confirms a report
   * that holds it (the hive sets this when it reports to a queen). Default false: one report.
   */
  holdEndedUntilDelivered?: boolean;
  /** Scrapes the workers' engine /metrics each tick (each scrape bounded by its own deadline). */
  engine?: EngineLoadSource;
}

/** What the monitor needs of the engine scraper (EngineScraper satisfies it). */
export interface EngineLoadSource {
  /** Never rejects. */
  scrape(): Promise<Map<string, EngineOutcome>>;
  lastKnown(): Map<string, EngineOutcome>;
}

/**
 * The hive's tick loop. Every interval it samples the workers and probes the
 * GPUs once for the whole hive, concurrently, waits for them at most the tick
 * deadline, and publishes one HiveReport. Ticks never overlap: a source still
 * busy from an earlier tick is awaited again, never started twice.
 */
export class Monitor {
  private readonly intervalMs: number;
  private readonly tickDeadlineMs: number;
  private readonly listeners = new Set<ReportListener>();
  private readonly stopController = new AbortController();
  private latestReport: HiveReport | undefined;
  private pendingSample: Promise<WorkerSample[]> | undefined;
  private pendingProbe: Promise<GpuSnapshotView> | undefined;
  private pendingProbeStartedMs = 0;
  private pendingEngine: Promise<Map<string, EngineOutcome>> | undefined;
  private lastWorkers: HiveReport["workers"] = [];
  private readonly ended: EndedWorkers | undefined;
  private loop: Promise<void> | undefined;
  private tickCount = 0;
  /** The tick in progress (or the last one), so that ticks never overlap. */
  private tickChain: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: MonitorOptions) {
    this.intervalMs = options.intervalMs ?? 1000;
    if (!(this.intervalMs > 0)) throw new RangeError(`monitor: intervalMs must be > 0, got ${this.intervalMs}`);
    this.tickDeadlineMs = options.tickDeadlineMs ?? Math.floor(this.intervalMs * 0.8);
    this.ended = options.holdEndedUntilDelivered ? new EndedWorkers() : undefined;
  }

  /** Starts ticking; the first tick runs at once. */
  start(): void {
    if (this.loop || this.stopController.signal.aborted) return;
    this.loop = this.run();
  }

  /** Stops ticking and waits for the tick in progress (bounded by its deadline). */
  async stop(): Promise<void> {
    this.stopController.abort();
    await this.loop;
  }

  /** The latest completed report, or undefined before the first tick ends. */
  latest(): HiveReport | undefined {
    return this.latestReport;
  }

  /** Completed ticks since start. */
  get ticks(): number {
    return this.tickCount;
  }

  /** A report of this monitor reached the queen: the ended workers it carried are not carried again. */
  delivered(report: HiveReport): void {
    this.ended?.delivered(report);
  }

  /**
   * Resolves once the ended worker's final telemetry has reached the queen (or no longer waits
   * for it), or after `timeoutMs`; true when delivered. At once when ended workers are not held.
   */
  whenEndedDelivered(workerId: string, timeoutMs: number): Promise<boolean> {
    return this.ended?.whenDelivered(workerId, timeoutMs) ?? Promise.resolve(true);
  }

  /** Runs a tick now, after the one in progress (a worker ended: report it without waiting for the grid). */
  tickNow(): Promise<HiveReport> {
    const run = this.tickChain.then(() => this.tick());
    this.tickChain = run.catch(() => undefined);
    return run;
  }

  /** Calls `listener` with every completed report; returns the unsubscribe function. */
  subscribe(listener: ReportListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs one tick now (the loop uses it; tests may call it on a monitor that is not started). */
  async tick(): Promise<HiveReport> {
    this.pendingSample ??= this.options.sampler.sample().catch(() => []);
    if (!this.pendingProbe) {
      this.pendingProbeStartedMs = performance.now();
      this.pendingProbe = this.options.gpu.probe().catch((error: unknown) => this.failedSnapshot(error));
    }
    const engine = this.options.engine;
    if (engine) this.pendingEngine ??= engine.scrape().catch(() => new Map<string, EngineOutcome>());
    const sampleRun = this.pendingSample;
    const probeRun = this.pendingProbe;
    const budget = this.tickDeadlineMs;
    const [sample, probe, memory, scraped] = await Promise.all([
      awaitWithin(sampleRun, budget),
      awaitWithin(probeRun, budget),
      awaitWithin(this.readMemory(), budget),
      this.pendingEngine ? awaitWithin(this.pendingEngine, budget) : undefined,
    ]);
    if (sample.settled) this.pendingSample = undefined;
    if (probe.settled) this.pendingProbe = undefined;
    if (scraped?.settled) this.pendingEngine = undefined;

    const errors: CollectionError[] = [];
    const snapshot = probe.settled ? probe.value : this.overdueSnapshot();
    errors.push(...snapshot.errors);
    const measured = snapshot.status.state === GpuProbeState.OK || snapshot.status.lastSuccessAt !== undefined;

    let workers = this.lastWorkers;
    if (sample.settled) {
      workers = attributeGpuUse(sample.value, snapshot.processes, measured);
      if (engine && scraped) workers = withEngineLoad(workers, scraped.settled ? scraped.value : engine.lastKnown());
      this.lastWorkers = workers.filter((w) => !isFinal(w.state));
    } else {
      errors.push(collectionError("procfs", `worker sampling did not finish within the tick deadline of ${budget} ms; workers are as of the last tick`));
    }
    if (this.ended) workers = this.ended.carry(workers);

    let memoryAvailableBytes: bigint | undefined;
    if (!memory.settled) errors.push(collectionError("procfs", "reading available memory timed out"));
    else if (memory.value instanceof Error) errors.push(collectionError("procfs", memory.value.message));
    else memoryAvailableBytes = memory.value;

    const report = create(HiveReportSchema, {
      seq: BigInt(this.tickCount + 1),
      collectedAt: timestampFromMs(Date.now()),
      devices: snapshot.devices,
      workers,
      memoryAvailableBytes,
      gpuProbe: snapshot.status,
      errors,
    });
    this.tickCount += 1;
    this.latestReport = report;
    this.publish(report);
    return report;
  }

  private async run(): Promise<void> {
    const signal = this.stopController.signal;
    const origin = performance.now();
    while (!signal.aborted) {
      try {
        await this.tickNow();
      } catch (error) {
        this.options.logger.error({ err: error }, "monitor tick failed");
      }
      // Next slot on the interval grid; slots missed by a slow tick are skipped, not stacked.
      const elapsed = performance.now() - origin;
      const nextSlot = (Math.floor(elapsed / this.intervalMs) + 1) * this.intervalMs;
      await pause(nextSlot - elapsed, signal);
    }
  }

  /** The probe broke its promise never to reject: the last known devices, marked ERROR. */
  private failedSnapshot(error: unknown): GpuSnapshotView {
    const message = `GPU probe failed: ${error instanceof Error ? error.message : String(error)}`;
    return this.lastKnownSnapshot(GpuProbeState.ERROR, message);
  }

  /**
   * The probe has not answered by the tick deadline. Within the probe's own deadline that is just
   * a slow probe: the last completed one stands. Past it, the last known devices marked TIMEOUT.
   */
  private overdueSnapshot(): GpuSnapshotView {
    const runningMs = performance.now() - this.pendingProbeStartedMs;
    const probeDeadlineMs = this.options.probeDeadlineMs ?? this.tickDeadlineMs;
    const last = this.options.gpu.last();
    if (runningMs < probeDeadlineMs && last) return last;
    const message = `GPU probe has not answered for ${Math.round(runningMs)} ms (deadline ${probeDeadlineMs} ms)`;
    return this.lastKnownSnapshot(GpuProbeState.TIMEOUT, message);
  }

  private lastKnownSnapshot(state: GpuProbeState, message: string): GpuSnapshotView {
    const last = this.options.gpu.last();
    return {
      devices: last?.devices ?? [],
      processes: last?.processes ?? [],
      status: create(GpuProbeStatusSchema, {
        state,
        message,
        lastSuccessAt: last?.status.lastSuccessAt,
      }),
      errors: [collectionError("gpu", message)],
    };
  }

  private readMemory(): Promise<bigint | Error> {
    const read = this.options.readMemoryAvailable ?? (async () => (await readMemInfo()).memAvailableBytes);
    return read().catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
  }

  private publish(report: HiveReport): void {
    for (const listener of this.listeners) {
      try {
        listener(report);
      } catch (error) {
        this.options.logger.error({ err: error }, "report listener failed");
      }
    }
  }
}

function collectionError(source: string, message: string): CollectionError {
  return create(CollectionErrorSchema, { source, message });
}
