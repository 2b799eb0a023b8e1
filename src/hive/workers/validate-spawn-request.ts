import { Code, ConnectError } from "@connectrpc/connect";
import type { SpawnWorkerRequest } from "../../../gen/apiary/v1/hive_pb.js";
import type { CgroupLimits } from "../cgroup/cgroup-driver.js";
import { EndpointError, resolveMetricsEndpoint } from "../engine/metrics-endpoint.js";

export const WORKER_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
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

/** Checks a SpawnWorkerRequest; throws INVALID_ARGUMENT naming the offending field. */
export function validateSpawnRequest(req: SpawnWorkerRequest): ValidSpawn {
  if (req.argv.length === 0) throw invalid("argv: must not be empty");
  if (req.argv[0] === "") throw invalid("argv[0]: must not be empty");
  req.argv.forEach((arg, i) => {
    if (arg.includes("\0")) throw invalid(`argv[${i}]: must not contain NUL`);
  });
  if (req.workerId !== "") {
    if (!WORKER_ID_PATTERN.test(req.workerId)) throw invalid("worker_id: must be 1–128 characters of [A-Za-z0-9._-]");
    if (req.workerId === "." || req.workerId === "..") throw invalid("worker_id: must not be '.' or '..'");
  }
  for (const [name, value] of Object.entries(req.env)) {
    if (!ENV_NAME.test(name)) throw invalid(`env[${JSON.stringify(name)}]: name must be non-empty without '=' or NUL`);
    if (value.includes("\0")) throw invalid(`env[${name}]: value must not contain NUL`);
  }
  if (req.cwd.includes("\0")) throw invalid("cwd: must not contain NUL");
  if (req.model.includes("\0")) throw invalid("model: must not contain NUL");
  req.gpuUuids.forEach((uuid, i) => {
    if (uuid === "" || /[,\0\s]/.test(uuid)) throw invalid(`gpu_uuids[${i}]: must be non-empty without commas or spaces`);
  });
  for (const [key, value] of Object.entries(req.labels)) {
    if (key === "") throw invalid("labels: keys must not be empty");
    if (key.includes("\0") || value.includes("\0")) throw invalid(`labels[${key}]: must not contain NUL`);
  }
  const limits: CgroupLimits = {};
  const l = req.limits;
  if (l?.memoryMaxBytes !== undefined) {
    if (l.memoryMaxBytes <= 0n) throw invalid("limits.memory_max_bytes: must be > 0");
    if (l.memoryMaxBytes > 2n ** 62n) throw invalid("limits.memory_max_bytes: too large");
    limits.memoryMaxBytes = l.memoryMaxBytes;
  }
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
