import { Code, ConnectError } from "@connectrpc/connect";
import type { SpawnWorkerRequest } from "../../../gen/apiary/v1/hive_pb.js";
import { checkArgv, checkGpuIds, checkMemoryLimit, checkModel, checkWorkerId, checkWorkerLabels } from "../../contracts/worker-fields.js";
import type { CgroupLimits } from "../cgroup/cgroup-driver.js";
import { EndpointError, resolveMetricsEndpoint } from "../engine/metrics-endpoint.js";
import { modelFromArgv } from "./model-from-argv.js";
import { EnvAllowList } from "./worker-env.js";

const DEFAULT_ENV_ALLOW_LIST = new EnvAllowList();

/** Below 10 millicores the CFS quota would fall under the kernel's 1 ms minimum. */
export const MIN_CPU_MILLICORES = 10;
const ENV_NAME = /^[^=\0]+$/;

export interface ValidSpawn {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  model: string;
  gpuUuids: string[];
  limits: CgroupLimits;
  labels: Record<string, string>;
  /** "" = generate one. */
  workerId: string;
  /** Where the hive scrapes the worker's engine metrics; "" = nowhere. */
  engineMetricsUrl: string;
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/**
 * Checks a SpawnWorkerRequest; throws INVALID_ARGUMENT naming the offending field. Worker fields
 * follow the rules the queen applies to reports (src/contracts/worker-fields.ts).
 */
export function validateSpawnRequest(req: SpawnWorkerRequest, allowEnv: EnvAllowList = DEFAULT_ENV_ALLOW_LIST): ValidSpawn {
  if (req.argv.length === 0) throw invalid("argv: must not be empty");
  if (req.argv[0] === "") throw invalid("argv[0]: must not be empty");
  checkArgv("argv", req.argv);
  if (req.workerId !== "") checkWorkerId("worker_id", req.workerId);
  for (const [name, value] of Object.entries(req.env)) {
    if (!ENV_NAME.test(name)) throw invalid(`env[${JSON.stringify(name)}]: name must be non-empty without '=' or NUL`);
    if (value.includes("\0")) throw invalid(`env[${name}]: value must not contain NUL`);
  }
  allowEnv.check(req.env);
  if (req.cwd.includes("\0")) throw invalid("cwd: must not contain NUL");
  checkModel("model", req.model);
  // The model the worker will be reported with, when it comes from the command line.
  if (req.model === "") checkModel("argv (model parsed from it)", modelFromArgv(req.argv));
  checkGpuIds("gpu_uuids", req.gpuUuids);
  checkWorkerLabels("labels", req.labels);
  checkMemoryLimit("limits.memory_max_bytes", req.limits?.memoryMaxBytes);
  const limits: CgroupLimits = {};
  const l = req.limits;
  if (l?.memoryMaxBytes !== undefined) limits.memoryMaxBytes = l.memoryMaxBytes;
  if (l?.cpuMaxMillicores !== undefined) {
    if (l.cpuMaxMillicores < MIN_CPU_MILLICORES) throw invalid(`limits.cpu_max_millicores: must be >= ${MIN_CPU_MILLICORES}`);
    limits.cpuMaxMillicores = l.cpuMaxMillicores;
  }
  if (l?.pidsMax !== undefined) {
    if (l.pidsMax <= 0) throw invalid("limits.pids_max: must be > 0");
    limits.pidsMax = l.pidsMax;
  }
  let engineMetricsUrl: string;
  try {
    const m = req.engineMetrics;
    engineMetricsUrl = resolveMetricsEndpoint({
      url: m.case === "engineMetricsUrl" ? m.value : undefined,
      port: m.case === "engineMetricsPort" ? m.value : undefined,
      disabled: req.engineMetricsDisabled,
      argv: req.argv,
      labels: req.labels,
    });
  } catch (err) {
    if (err instanceof EndpointError) throw invalid(err.message);
    throw err;
  }
  return {
    engineMetricsUrl,
    argv: [...req.argv],
    env: { ...req.env },
    cwd: req.cwd,
    model: req.model,
    gpuUuids: [...req.gpuUuids],
    limits,
    labels: { ...req.labels },
    workerId: req.workerId,
  };
}
