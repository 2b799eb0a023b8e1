import { Code, ConnectError } from "@connectrpc/connect";
import { closeSync, existsSync, fchmodSync, openSync, readFileSync, rmSync } from "node:fs";
import { chmod, mkdir, realpath, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { CgroupInUseError, type CgroupDriver } from "../cgroup/cgroup-driver.js";
import { readProcStat } from "../procfs/proc-stat.js";
import { systemConstants } from "../procfs/system-constants.js";
import { launchInCgroup } from "./launch-in-cgroup.js";
import type { ProgramAllowList } from "./program-allow-list.js";
import { modelFromArgv } from "./model-from-argv.js";
import { resolveProgram } from "./resolve-program.js";
import { workerEnv } from "./worker-env.js";
import type { ValidSpawn } from "./validate-spawn-request.js";
import { newRecord, type WorkerRecord } from "./worker-record.js";
import { writeWorkerState, type WorkerStateFile } from "./worker-state-file.js";
import type { RestartState } from "./restart-policy.js";

export interface SpawnContext {
  driver: CgroupDriver;
  stateDir: string;
  logDir: string;
  procRoot: string;
  bootTimeMs: number;
  /** --allow-program: checked on the real path resolved here, which is then what runs; absent = any program. */
  programs?: ProgramAllowList;
}

function failedPrecondition(message: string): ConnectError {
  return new ConnectError(message, Code.FailedPrecondition);
}

function logTail(path: string): string {
  try {
    return readFileSync(path, "utf8").trim().split("\n").slice(-3).join(" | ").slice(-400);
  } catch {
    return "";
  }
}

/**
 * Starts one worker: cgroup, log file, launch, state file. On any failure it
 * leaves nothing behind (no cgroup, no state file, no log file it created) and
 * throws a ConnectError naming the field.
 */
export async function spawnWorker(ctx: SpawnContext, req: ValidSpawn, workerId: string, restart?: RestartState): Promise<WorkerRecord> {
  const cwd = req.cwd === "" ? process.cwd() : resolve(req.cwd);
  if (req.cwd !== "") {
    const info = await stat(cwd).catch(() => undefined);
    if (!info?.isDirectory()) throw failedPrecondition(`cwd: not a directory: ${req.cwd}`);
  }
  // A fixed base plus the admitted request variables: nothing of the hive's own environment leaks in.
  const env = workerEnv(req.env, req.gpuUuids);
  const program = await resolveProgram(req.argv[0], env.PATH, cwd);
  if (!program) throw failedPrecondition(`argv[0]: program not found: ${req.argv[0]}`);
  // Resolved once: the allow-list judges the real path, and that same path is exec'd (no second
  // lookup, no symlink followed later). Without a list the looked-up path runs (a venv's python
  // must keep its own path to find its venv).
  let execPath = program;
  if (ctx.programs) {
    execPath = await realpath(program);
    await ctx.programs.check(execPath, req.argv, cwd);
  }

  await mkdir(ctx.logDir, { recursive: true, mode: 0o700 });
  await chmod(ctx.logDir, 0o700);
  const logPath = `${ctx.logDir}/${workerId}.log`;
  const logExisted = existsSync(logPath);
  const cgroup = await ctx.driver.create(workerId, req.limits).catch((err: unknown) => {
    if (err instanceof CgroupInUseError) throw failedPrecondition(`worker_id: ${err.message}`);
    throw err;
  });
  const undo = async (): Promise<void> => {
    await ctx.driver.remove(cgroup);
    if (!logExisted) rmSync(logPath, { force: true });
  };
  let logFd: number;
  try {
    logFd = openSync(logPath, "a", 0o600);
    fchmodSync(logFd, 0o600);
  } catch (err) {
    await undo();
    throw new ConnectError(`log_path: cannot open ${logPath}: ${String(err)}`, Code.Internal);
  }
  // Exec exactly the path resolved here, not argv[0] looked up again by the wrapper.
  const launched = await launchInCgroup({ argv: [execPath, ...req.argv.slice(1)], procsFiles: cgroup.procsFiles, env, cwd, logFd });
  closeSync(logFd);
  if (!launched.ok) {
    const detail = logTail(logPath);
    await undo();
    if (launched.reason === "join") throw new ConnectError(`limits: ${launched.message}${detail ? `: ${detail}` : ""}`, Code.Internal);
    throw failedPrecondition(`argv[0]: cannot execute ${req.argv[0]}${detail ? `: ${detail}` : `: ${launched.message}`}`);
  }
  const procStat = await readProcStat(launched.pid, ctx.procRoot);
  const { clockTicksPerSec } = systemConstants();
  const state: WorkerStateFile = {
    version: 1,
    workerId,
    pid: launched.pid,
    startTimeTicks: procStat?.startTimeTicks ?? -1,
    startedAtMs: procStat ? ctx.bootTimeMs + (procStat.startTimeTicks * 1000) / clockTicksPerSec : Date.now(),
    argv: req.argv,
    program: execPath,
    model: req.model !== "" ? req.model : modelFromArgv(req.argv),
    labels: req.labels,
    gpuUuids: req.gpuUuids,
    limits: {
      memoryMaxBytes: req.limits.memoryMaxBytes?.toString(),
      cpuMaxMillicores: req.limits.cpuMaxMillicores,
      pidsMax: req.limits.pidsMax,
    },
    enforced: cgroup.enforced,
    limitErrors: cgroup.errors.map((e) => e.message),
    cgroup: { mode: cgroup.mode, workerId, paths: cgroup.paths, primaryPath: cgroup.primaryPath, procsFiles: cgroup.procsFiles },
    logPath,
    ...(restart ? { restart } : {}),
    engineMetricsUrl: req.engineMetricsUrl,
  };
  try {
    await writeWorkerState(ctx.stateDir, state);
  } catch (err) {
    // Without its state file the worker could not be re-adopted: do not keep it.
    launched.child.kill("SIGKILL");
    await launched.exit;
    await undo();
    throw new ConnectError(`state_dir: cannot write worker state: ${String(err)}`, Code.Internal);
  }
  return newRecord(state, launched.child, launched.exit);
}
