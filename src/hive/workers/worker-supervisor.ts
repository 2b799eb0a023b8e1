import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { SpawnWorkerRequest } from "../../../gen/apiary/v1/hive_pb.js";
import { CollectionErrorSchema, WorkerState, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import type { CgroupDriver, CgroupMode, CgroupStats } from "../cgroup/cgroup-driver.js";
import { createCgroupDriver } from "../cgroup/create-cgroup-driver.js";
import { detectCgroupMode } from "../cgroup/detect-cgroup-mode.js";
import { readBootTimeMs } from "../procfs/meminfo.js";
import { HeldFiles } from "../procfs/held-files.js";
import { readProcessTable, scanProcessTable, type ProcessTable } from "../procfs/process-table.js";
import { systemConstants } from "../procfs/system-constants.js";
import type { EngineTarget } from "../engine/engine-scraper.js";
import { resolveMetricsEndpoint } from "../engine/metrics-endpoint.js";
import { exitOutcome } from "./exit-state.js";
import type { ChildExit } from "./launch-in-cgroup.js";
import { measureWorker } from "./measure-worker.js";
import { modelFromArgv } from "./model-from-argv.js";
import { signalPids, waitTreeGone } from "./process-tree.js";
import { spawnWorker } from "./spawn-worker.js";
import { validateSpawnRequest } from "./validate-spawn-request.js";
import { baseWorkerEnv, EnvAllowList } from "./worker-env.js";
import type { ProgramAllowList } from "./program-allow-list.js";
import { resolveProgram } from "./resolve-program.js";
import { baseTelemetry, newRecord, type WorkerRecord } from "./worker-record.js";
import { cancelBackoff, enterEnded, enterStopping, type EndedPhase } from "./worker-phase.js";
import { DEFAULT_WORKER_LOG_RETENTION, pruneWorkerLogs, type WorkerLogRetention } from "./worker-log-retention.js";
import { deleteWorkerState, loadWorkerStates, type WorkerStateFile } from "./worker-state-file.js";
import { checkRestartPolicy, DEFAULT_RESTART_SETTINGS, wantsRestart, type RestartSettings } from "./restart-policy.js";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { RestartPolicy } from "../../../gen/apiary/v1/telemetry_pb.js";
import { WorkerRestarts } from "./worker-restarts.js";
import { generateWorkerId } from "./worker-id.js";
import { compareIds } from "../../common/compare-ids.js";
import { realpath } from "node:fs/promises";

export interface WorkerSample {
  telemetry: WorkerTelemetry;
  /** Every pid of the worker, for GPU attribution. */
  pids: number[];
}

export interface SupervisorOptions {
  stateDir: string;
  /** Default /sys/fs/cgroup. */
  cgroupRoot?: string;
  cgroupMode?: "auto" | CgroupMode;
  /** The hive's own group below the cgroup root (`apiary/<hive_id>` for a hive): never shared by two hives. */
  cgroupParent: string;
  /** Default <stateDir>/logs. */
  logDir?: string;
  /** How long and how many logs of ended workers are kept; default 7 days, 1000 files. */
  logRetention?: WorkerLogRetention;
  logger: Logger;
  /** Request env variables SpawnWorker passes on (--allow-env); default DEFAULT_ALLOW_ENV. */
  allowEnv?: EnvAllowList;
  /** --allow-program, checked at every spawn, every restart and every re-adoption; absent = any program. */
  programs?: ProgramAllowList;
  /** Default 10000. */
  defaultGraceMs?: number;
  /** Default /proc; tests may point it elsewhere. */
  procRoot?: string;
  /** Back-off of workers restarted by their restart policy; default 1 s doubling to 5 min, reset after a 10 min run. */
  restart?: Partial<RestartSettings>;
}

/** A worker re-adopted from the state file of an older hive: its endpoint as the command line and labels give it. */
function endpointOfOldState(state: WorkerStateFile): string {
  try {
    return resolveMetricsEndpoint({ argv: state.argv, labels: state.labels });
  } catch {
    return "";
  }
}

/** A record of the finals map: always ended. */
function endedOf(record: WorkerRecord): { record: WorkerRecord; phase: EndedPhase } {
  const { phase } = record;
  if (phase.kind !== "ended") throw new Error(`worker ${record.state.workerId}: in the ended map while ${phase.kind}`);
  return { record, phase };
}

/** After SIGKILL, how long to wait for the kernel to end every process. */
const KILL_WAIT_MS = 5000;
/** How long sample() waits for an exited worker's cleanup before reporting it anyway. */
const CLEANUP_WAIT_MS = 1000;

/**
 * Starts, stops, measures and re-adopts the hive's worker processes (restarts by policy: WorkerRestarts). Each
 * worker runs in its own process group and cgroup; its metadata is kept in
 * `<stateDir>/workers/<id>.json` so that a restarted hive finds it again.
 */
export class WorkerSupervisor {
  private mode: CgroupMode = "none";
  private driver: CgroupDriver = createCgroupDriver("none", { root: "", parent: "" });
  private readonly live = new Map<string, WorkerRecord>();
  /** Workers that ended and are not reported yet (reported once by sample()). */
  private readonly finals = new Map<string, WorkerRecord>();
  private readonly reserved = new Set<string>();
  private readonly exitListeners = new Set<(t: WorkerTelemetry) => void>();
  private readonly procRoot: string;
  /** The files every tick reads again (cgroup counters, the workers' /proc entries), kept open between ticks. */
  private readonly files = new HeldFiles();
  private readonly logDir: string;
  private bootTimeMs = 0;
  private closed = false;
  private readonly restarts: WorkerRestarts;
  private readonly allowEnv: EnvAllowList;
  /** Ids of the workers found alive at init (left running by an earlier hive process). */
  readonly readopted: string[] = [];

  constructor(private readonly opts: SupervisorOptions) {
    this.procRoot = opts.procRoot ?? "/proc";
    this.logDir = opts.logDir ?? `${opts.stateDir}/logs`;
    this.allowEnv = opts.allowEnv ?? new EnvAllowList();
    this.restarts = new WorkerRestarts({ ...DEFAULT_RESTART_SETTINGS, ...opts.restart }, {
      stateDir: opts.stateDir,
      logger: opts.logger,
      isClosed: () => this.closed,
      endLeftovers: (record) => this.endLeftovers(record),
      giveUp: (record, message) => this.endWaiting(record, message),
      startRun: async (request, workerId, restart) => {
        // The hive's current lists judge every restart, not the ones of the first start.
        this.allowEnv.check(request.env);
        const next = await spawnWorker(this.spawnContext(), request, workerId, restart);
        this.live.set(workerId, next);
        void next.exit?.then((exit) => this.onMainExit(next, exit));
        return next;
      },
    });
  }

  get cgroupMode(): CgroupMode {
    return this.mode;
  }

  async init(): Promise<void> {
    const root = this.opts.cgroupRoot ?? "/sys/fs/cgroup";
    const wanted = this.opts.cgroupMode ?? "auto";
    this.mode = wanted === "auto" ? await detectCgroupMode(root) : wanted;
    this.driver = createCgroupDriver(this.mode, { root, parent: this.opts.cgroupParent, files: this.files });
    systemConstants();
    this.bootTimeMs = await readBootTimeMs(this.procRoot);
    this.opts.logger.info({ cgroupMode: this.mode, cgroupRoot: root, cgroupParent: this.opts.cgroupParent }, "worker supervisor ready");
    await this.readopt();
    if (this.readopted.length > 0) {
      this.opts.logger.info({ workers: this.readopted }, `re-adopted ${this.readopted.length} running worker(s) left by an earlier hive process`);
    }
    this.pruneLogs();
  }

  /** Deletes ended workers' logs past the retention (at start and whenever a worker ends). */
  private pruneLogs(): void {
    const retention = this.opts.logRetention ?? DEFAULT_WORKER_LOG_RETENTION;
    const { removed, errors } = pruneWorkerLogs(this.logDir, (id) => this.isTaken(id), retention);
    if (removed.length > 0) this.opts.logger.info({ removed: removed.length, logDir: this.logDir }, "old worker logs deleted");
    if (errors.length > 0) this.opts.logger.warn({ errors }, "cannot delete old worker logs");
  }

  private async readopt(): Promise<void> {
    const table = await scanProcessTable(this.procRoot);
    for (const loaded of await loadWorkerStates(this.opts.stateDir)) {
      if (!loaded.ok) {
        this.opts.logger.warn({ path: loaded.path, err: loaded.error }, "unreadable worker state file ignored");
        continue;
      }
      const { state } = loaded;
      if (table.isSameProcess(state.pid, state.startTimeTicks)) {
        const record = newRecord(state);
        this.live.set(state.workerId, record);
        this.readopted.push(state.workerId);
        this.opts.logger.info({ workerId: state.workerId, pid: state.pid }, "worker re-adopted");
        const refused = await this.refusedProgram(state);
        if (refused !== undefined) {
          // Started under an older, wider --allow-program: it does not keep running under this one.
          this.opts.logger.warn({ workerId: state.workerId, pid: state.pid, reason: refused }, "re-adopted worker's program is not allowed now: stopping it");
          record.refusal = refused;
          void this.stop(state.workerId).catch((err: unknown) => this.opts.logger.warn({ err, workerId: state.workerId }, "cannot stop refused worker"));
        }
      } else if (state.restart && wantsRestart(state.restart.policy, WorkerState.FAILED)) {
        // It ended while no hive watched it: its policy starts it again, after a back-off.
        const record = newRecord(state);
        this.live.set(state.workerId, record);
        this.opts.logger.info({ workerId: state.workerId, pid: state.pid }, "worker ended while the hive was away; restarting it by its policy");
        this.onMainExit(record, undefined);
      } else {
        await this.driver.remove(state.cgroup);
        await deleteWorkerState(this.opts.stateDir, state.workerId);
        this.opts.logger.info({ workerId: state.workerId, pid: state.pid }, "stale worker state removed (process gone)");
      }
    }
  }

  /** Why the current --allow-program refuses a worker's program, or undefined when it admits it. */
  private async refusedProgram(state: WorkerStateFile): Promise<string | undefined> {
    if (!this.opts.programs) return undefined;
    const cwd = state.restart?.cwd || process.cwd();
    const found = state.program ?? (await resolveProgram(state.argv[0], baseWorkerEnv().PATH, cwd));
    if (found === undefined) return `argv[0]: program not found: ${state.argv[0]}`;
    try {
      await this.opts.programs.check(await realpath(found), state.argv, cwd);
      return undefined;
    } catch (err) {
      return err instanceof ConnectError ? err.rawMessage : String(err);
    }
  }

  /** Workers alive now (not ended). */
  get runningCount(): number {
    return this.live.size;
  }

  async spawn(request: SpawnWorkerRequest): Promise<WorkerTelemetry> {
    if (this.closed) throw new ConnectError("hive is shutting down", Code.Unavailable);
    const req = validateSpawnRequest(request, this.allowEnv);
    const policy = checkRestartPolicy(request.restartPolicy);
    let workerId = req.workerId;
    if (workerId === "") {
      do workerId = generateWorkerId(req.model || modelFromArgv(req.argv));
      while (this.isTaken(workerId));
    } else if (this.isTaken(workerId)) {
      throw new ConnectError(`worker_id: a worker named ${workerId} already exists`, Code.AlreadyExists);
    }
    this.reserved.add(workerId);
    try {
      const record = await spawnWorker(
        this.spawnContext(),
        req,
        workerId,
        policy === RestartPolicy.NEVER ? undefined : { policy, count: 0, env: req.env, cwd: req.cwd },
      );
      this.restarts.forget(workerId);
      this.finals.delete(workerId);
      this.live.set(workerId, record);
      void record.exit?.then((exit) => this.onMainExit(record, exit));
      this.opts.logger.info(
        { workerId, pid: record.state.pid, argv: record.latest.argv, model: record.state.model, cgroup: record.state.cgroup.primaryPath, enforced: record.state.enforced },
        "worker spawned",
      );
      return record.latest;
    } finally {
      this.reserved.delete(workerId);
    }
  }

  private spawnContext() {
    return { driver: this.driver, stateDir: this.opts.stateDir, logDir: this.logDir, procRoot: this.procRoot, bootTimeMs: this.bootTimeMs, programs: this.opts.programs };
  }

  /** Where the worker's log is (or would be): `<logDir>/<worker_id>.log`. */
  logPathOf(workerId: string): string {
    return `${this.logDir}/${workerId}.log`;
  }

  /** True while the worker runs, is being started, or waits to be restarted. */
  isActive(workerId: string): boolean {
    return this.isTaken(workerId);
  }

  private isTaken(workerId: string): boolean {
    return this.live.has(workerId) || this.reserved.has(workerId);
  }

  async stop(workerId: string, graceMs?: number): Promise<WorkerTelemetry> {
    const record = this.live.get(workerId) ?? this.finals.get(workerId);
    if (!record) throw new ConnectError(`worker_id: no worker named ${workerId}`, Code.NotFound);
    const { phase } = record;
    switch (phase.kind) {
      case "ended":
        await phase.cleanup;
        return phase.final;
      case "backoff":
        return this.stopInBackoff(record, graceMs);
      case "stopping":
        return phase.stopped;
      case "running": {
        const ms = graceMs ?? this.opts.defaultGraceMs ?? 10_000;
        return enterStopping(record, () => this.endTree(record, ms), (treeGone) => this.finishStop(record, treeGone)).stopped;
      }
    }
  }

  /** Once StopWorker's signals ended the tree: the final state, after cleanup. */
  private async finishStop(record: WorkerRecord, treeGone: Promise<void>): Promise<WorkerTelemetry> {
    await treeGone;
    if (record.exit) await record.exit.then((exit) => this.onMainExit(record, exit));
    else this.onMainExit(record, undefined);
    return this.endedPhase(record);
  }

  /** Resolves with the final telemetry of a record that has just ended, once it is cleaned up. */
  private async endedPhase(record: WorkerRecord): Promise<WorkerTelemetry> {
    const { phase } = record;
    if (phase.kind !== "ended") throw new Error(`worker ${record.state.workerId}: expected ended, is ${phase.kind}`);
    await phase.cleanup;
    return phase.final;
  }

  /** SIGTERM to the whole tree, SIGKILL to what is left after the grace period; resolves once all is gone. */
  private async endTree(record: WorkerRecord, graceMs: number): Promise<void> {
    const { workerId, cgroup } = record.state;
    const who = record.identity;
    if (cgroup.mode !== "none") who.cgroupPids = () => this.driver.readStats(cgroup).pids;
    let alive = await waitTreeGone(who, 0, this.procRoot);
    signalPids(who.pgid, alive, "SIGTERM");
    alive = await waitTreeGone(who, graceMs, this.procRoot);
    if (alive.length > 0) {
      this.opts.logger.info({ workerId, pids: alive, graceMs }, "worker ignored SIGTERM: SIGKILL");
      signalPids(who.pgid, alive, "SIGKILL");
      alive = await waitTreeGone(who, KILL_WAIT_MS, this.procRoot);
      if (alive.length > 0) this.opts.logger.warn({ workerId, pids: alive }, "worker processes survive SIGKILL");
    }
  }

  /** The main process ended: decide the final state now; clean up in the background. */
  private onMainExit(record: WorkerRecord, exit: ChildExit | undefined): void {
    const { phase } = record;
    if (phase.kind !== "running" && phase.kind !== "stopping") return;
    const { workerId } = record.state;
    const stopRequested = phase.kind === "stopping";
    const stats = record.state.cgroup.mode === "none" ? undefined : this.driver.readStats(record.state.cgroup);
    const outcome = exitOutcome({ code: exit?.code, signal: exit?.signal, stopRequested, oomKilled: stats?.oomKilled === true });
    const policy = record.state.restart?.policy ?? RestartPolicy.NEVER;
    if (!this.closed && !stopRequested && wantsRestart(policy, outcome.state)) {
      this.restarts.enterBackoff(record, outcome);
      return;
    }
    const final = baseTelemetry(record, outcome.state);
    final.exitCode = outcome.exitCode;
    final.exitSignal = outcome.exitSignal;
    final.reason = outcome.endReason;
    final.endedAt = timestampFromMs(Date.now());
    final.processCount = 0;
    if (outcome.reason) final.errors.push(create(CollectionErrorSchema, { source: outcome.endReason === "OOMKilled" ? "cgroup" : "spawn", message: outcome.reason }));
    if (outcome.note) final.errors.push(create(CollectionErrorSchema, { source: "spawn", message: outcome.note }));
    if (record.refusal) final.errors.push(create(CollectionErrorSchema, { source: "spawn", message: `stopped at re-adoption: ${record.refusal}` }));
    record.latest = final;
    this.live.delete(workerId);
    this.finals.set(workerId, record);
    enterEnded(record, final, () => this.cleanup(record, final, phase.kind === "stopping" ? phase.treeGone : undefined));
    const level = outcome.state === WorkerState.FAILED ? "warn" : "info";
    this.opts.logger[level]({ workerId, pid: record.state.pid, exitCode: outcome.exitCode, exitSignal: outcome.exitSignal, reason: outcome.reason }, "worker ended");
    for (const listener of this.exitListeners) {
      try {
        listener(final);
      } catch (err) {
        this.opts.logger.warn({ err, workerId }, "worker exit listener threw");
      }
    }
  }

  /** Kills what is left of an ended worker (unless StopWorker is on it), removes its cgroup and state file. */
  private async cleanup(record: WorkerRecord, final: WorkerTelemetry, treeGone?: Promise<void>): Promise<void> {
    await this.endLeftovers(record, final, treeGone);
    await deleteWorkerState(this.opts.stateDir, record.state.workerId).catch((err) =>
      this.opts.logger.warn({ err, workerId: record.state.workerId }, "cannot delete worker state file"),
    );
    this.pruneLogs();
  }

  /**
   * Kills what is left of an ended run and removes its cgroup; `treeGone`: StopWorker is ending the
   * tree with its own grace period. Errors go to the worker's `final` telemetry when it has one.
   */
  private async endLeftovers(record: WorkerRecord, final?: WorkerTelemetry, treeGone?: Promise<void>): Promise<void> {
    const { workerId, cgroup } = record.state;
    const who = record.identity;
    if (cgroup.mode !== "none") who.cgroupPids = () => this.driver.readStats(cgroup).pids;
    if (treeGone) {
      await treeGone;
    } else {
      const leftovers = await waitTreeGone(who, 0, this.procRoot);
      if (leftovers.length > 0) {
        this.opts.logger.info({ workerId, pids: leftovers }, "killing processes left by an ended worker");
        signalPids(who.pgid, leftovers, "SIGKILL");
        await waitTreeGone(who, KILL_WAIT_MS, this.procRoot);
      }
    }
    const removal = await this.driver.remove(cgroup);
    if (!removal.removed) {
      this.opts.logger.warn({ workerId, errors: removal.errors.map((e) => e.message) }, "worker cgroup not removed");
      final?.errors.push(...removal.errors);
    }
  }

  /** StopWorker on a worker waiting to restart: no new start; its last run's end is its final state. */
  private async stopInBackoff(record: WorkerRecord, graceMs?: number): Promise<WorkerTelemetry> {
    const { workerId } = record.state;
    await cancelBackoff(record).restarting;
    const current = this.live.get(workerId);
    if (current && current !== record) return this.stop(workerId, graceMs); // it had just started again
    if (record.phase.kind === "backoff") {
      this.endWaiting(record);
      this.opts.logger.info({ workerId }, "worker stopped while waiting to restart");
    }
    return this.endedPhase(record);
  }

  /** A worker waiting to restart ends with its last run's end; `refusal`: why it may not start again. */
  private endWaiting(record: WorkerRecord, refusal?: string): void {
    const final = this.restarts.finalOfWaiting(record);
    if (refusal !== undefined) {
      final.state = WorkerState.FAILED;
      final.errors.push(create(CollectionErrorSchema, { source: "spawn", message: `not restarted: ${refusal}` }));
      this.opts.logger.warn({ workerId: record.state.workerId, reason: refusal }, "worker not restarted: refused by the hive's current lists");
    }
    record.latest = final;
    this.live.delete(record.state.workerId);
    this.finals.set(record.state.workerId, record);
    enterEnded(record, final, () => this.cleanup(record, final));
    if (refusal !== undefined) for (const listener of this.exitListeners) listener(final);
  }

  async sample(): Promise<WorkerSample[]> {
    const records = [...this.live.values()];
    const running = records.filter((r) => r.phase.kind !== "backoff");
    // With every worker in a cgroup, the cgroups' member lists name the processes to read: the
    // counters come from the cgroups, so the rest of /proc is never read.
    const cgroupStats = running.every((r) => r.state.cgroup.mode !== "none")
      ? records.map((r) => (r.phase.kind !== "backoff" ? this.driver.readStats(r.state.cgroup) : { errors: [], pids: [] }))
      : undefined;
    let table: ProcessTable | undefined;
    let tableError = "";
    try {
      table = cgroupStats && cgroupStats.every((s) => s.pids !== undefined)
        ? await readProcessTable(records.flatMap((r, i) => [r.state.pid, ...r.identity.knownPids.keys(), ...(cgroupStats[i].pids ?? [])]), this.procRoot, this.files)
        : await scanProcessTable(this.procRoot);
    } catch (err) {
      tableError = `${this.procRoot}: ${String(err)}`;
    }
    const samples: WorkerSample[] = [];
    for (const [i, record] of records.entries()) {
      if (record.phase.kind === "backoff") {
        record.latest = this.restarts.backoffTelemetry(record, record.phase);
        samples.push({ telemetry: record.latest, pids: [] });
        continue;
      }
      if (!record.child && table && !table.isSameProcess(record.state.pid, record.state.startTimeTicks) && record.phase.kind === "running") {
        this.onMainExit(record, undefined); // re-adopted worker ended: found by polling /proc
        continue;
      }
      samples.push(await this.measure(record, table, tableError, cgroupStats?.[i]));
    }
    const reported = [...this.finals.values()].filter((r) => !this.live.has(r.state.workerId)).map(endedOf);
    await Promise.race([Promise.all(reported.map(({ phase }) => phase.cleanup)), new Promise((r) => setTimeout(r, CLEANUP_WAIT_MS).unref())]);
    for (const { record, phase } of reported) {
      samples.push({ telemetry: phase.final, pids: [] });
      this.finals.delete(record.state.workerId);
    }
    this.files.sweep(); // what this tick did not read (ended processes, removed cgroups) closes
    return samples.sort((a, b) => compareIds(a.telemetry.workerId, b.telemetry.workerId));
  }

  private async measure(record: WorkerRecord, table: ProcessTable | undefined, tableError: string, cgroupStats?: CgroupStats): Promise<WorkerSample> {
    const telemetry = baseTelemetry(record, WorkerState.RUNNING);
    try {
      if (!table) throw new Error(tableError);
      const atNs = process.hrtime.bigint();
      const m = await measureWorker(table, record.identity, this.driver, record.state.cgroup, this.procRoot, cgroupStats, this.files);
      const rates = record.rates.update({ atNs, cpuNs: m.cpuNs, ioReadBytes: m.ioReadBytes, ioWriteBytes: m.ioWriteBytes });
      telemetry.cpuPct = rates.cpuPct;
      telemetry.ioReadBytesPerSec = rates.ioReadBytesPerSec;
      telemetry.ioWriteBytesPerSec = rates.ioWriteBytesPerSec;
      telemetry.memoryRssBytes = m.memoryBytes;
      telemetry.processCount = m.pids.length;
      telemetry.errors.push(...m.errors);
      if (record.phase.kind !== "ended") record.latest = telemetry;
      return { telemetry, pids: m.pids };
    } catch (err) {
      telemetry.errors.push(create(CollectionErrorSchema, { source: "procfs", message: String(err) }));
      return { telemetry, pids: [record.state.pid] };
    }
  }

  /** Live workers whose engine metrics are scraped, with their endpoints. */
  engineTargets(): EngineTarget[] {
    const targets: EngineTarget[] = [];
    for (const record of this.live.values()) {
      if (record.phase.kind === "ended") continue;
      const url = record.state.engineMetricsUrl ?? endpointOfOldState(record.state);
      if (url) targets.push({ workerId: record.state.workerId, url });
    }
    return targets;
  }

  list(): WorkerTelemetry[] {
    const all = new Map<string, WorkerTelemetry>();
    for (const [id, record] of this.finals) all.set(id, record.latest);
    for (const [id, record] of this.live) all.set(id, record.latest);
    return [...all.values()].sort((a, b) => compareIds(a.workerId, b.workerId));
  }

  onExit(listener: (t: WorkerTelemetry) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  /** stopWorkers=false leaves the workers running, with their state files, for the next hive to re-adopt. */
  async close(opts: { stopWorkers: boolean; graceMs?: number }): Promise<void> {
    this.closed = true;
    const leftRunning = opts.stopWorkers ? 0 : this.live.size;
    if (opts.stopWorkers) {
      await Promise.all([...this.live.keys()].map((id) => this.stop(id, opts.graceMs).catch(() => undefined)));
    } else {
      for (const record of this.live.values()) {
        if (record.phase.kind === "backoff") record.phase.abort.abort(); // its state file stays: the next hive starts it again
        record.child?.unref();
        record.child?.removeAllListeners();
      }
      this.live.clear();
    }
    await Promise.all([...this.finals.values()].map((r) => endedOf(r).phase.cleanup));
    // The hive's own parent group goes with the last worker; one left running keeps it.
    if (opts.stopWorkers || leftRunning === 0) await this.driver.removeParent();
    this.files.close();
    this.opts.logger.info({ stopWorkers: opts.stopWorkers }, "worker supervisor closed");
  }
}
