import { defineFlags, type FlagValues } from "./command.js";
import type { ServerSecurityFlags } from "./server-flags.js";
import type { HiveConfig } from "../hive/hive-config.js";
import { choiceFlag, durationFlag, intFlag, parseKeyValues } from "./parse-values.js";

const CGROUP_MODES = { auto: "auto", v2: "v2", v1: "v1", none: "none" } as const;

/** Settings of the local hive that `apiary hive` and `apiary up` share. */
export const hiveRuntimeFlags = defineFlags([
  { name: "nvidia-smi", type: "string", value: "PATH", env: "APIARY_NVIDIA_SMI", default: "nvidia-smi", help: "nvidia-smi to probe GPUs with" },
  { name: "gpu-deadline", type: "string", value: "DUR", env: "APIARY_GPU_DEADLINE", default: "2s", help: "hard deadline of each nvidia-smi call" },
  { name: "no-gpu", type: "boolean", env: "APIARY_NO_GPU", help: "never run nvidia-smi" },
  { name: "kmsg-path", type: "string", value: "PATH", env: "APIARY_KMSG_PATH", default: "/dev/kmsg", help: "kernel log to read GPU Xid events from (a file or FIFO for tests)" },
  { name: "gpu-health-ignore-xid", type: "string", value: "N,N", env: "APIARY_GPU_HEALTH_IGNORE_XID", help: "Xid codes the GPU health verdict ignores, e.g. 13,31" },
  { name: "gpu-health-xid-hold", type: "string", value: "DUR", env: "APIARY_GPU_HEALTH_XID_HOLD", default: "10m", help: "how long an Xid keeps its GPU DEGRADED/UNHEALTHY" },
  { name: "cgroup-root", type: "string", value: "DIR", env: "APIARY_CGROUP_ROOT", default: "/sys/fs/cgroup", help: "cgroup filesystem to put workers in" },
  { name: "cgroup-mode", type: "string", value: "MODE", env: "APIARY_CGROUP_MODE", default: "auto", help: "auto|v2|v1|none" },
  { name: "cgroup-parent", type: "string", value: "PATH", env: "APIARY_CGROUP_PARENT", help: "group of this hive's workers below each hierarchy [default: apiary/<hive id>]" },
  { name: "state-dir", type: "string", value: "DIR", env: "APIARY_STATE_DIR", help: "worker metadata and logs [default: /var/lib/apiary/hive as root, else ~/.local/state/apiary/hive]" },
  { name: "tick-interval", type: "string", value: "DUR", env: "APIARY_TICK_INTERVAL", default: "1s", help: "how often workers are measured" },
  { name: "engine-scrape-deadline", type: "string", value: "DUR", env: "APIARY_ENGINE_SCRAPE_DEADLINE", default: "300ms", help: "hard deadline of each scrape of a worker's engine /metrics" },
  { name: "worker-log-retention", type: "string", value: "DUR", env: "APIARY_WORKER_LOG_RETENTION", default: "7d", help: "delete logs of ended workers older than this" },
  { name: "worker-log-max-files", type: "string", value: "N", env: "APIARY_WORKER_LOG_MAX_FILES", default: "1000", help: "keep at most this many logs of ended workers" },
]);

/** Reads hiveRuntimeFlags into a HiveConfig. */
export function hiveRuntime(flags: FlagValues<typeof hiveRuntimeFlags>): HiveConfig {
  return {
    nvidiaSmiPath: flags["nvidia-smi"],
    gpuDeadlineMs: durationFlag("gpu-deadline", flags["gpu-deadline"]),
    gpuEnabled: flags["no-gpu"] !== true,
    kmsgPath: flags["kmsg-path"],
    gpuHealthIgnoreXids: xidList("gpu-health-ignore-xid", flags["gpu-health-ignore-xid"]),
    gpuXidHoldMs: durationFlag("gpu-health-xid-hold", flags["gpu-health-xid-hold"]),
    cgroupRoot: flags["cgroup-root"],
    cgroupMode: choiceFlag("cgroup-mode", flags["cgroup-mode"], CGROUP_MODES),
    cgroupParent: flags["cgroup-parent"],
    stateDir: flags["state-dir"],
    tickIntervalMs: durationFlag("tick-interval", flags["tick-interval"]),
    engineScrapeDeadlineMs: durationFlag("engine-scrape-deadline", flags["engine-scrape-deadline"]),
    workerLogRetentionMs: durationFlag("worker-log-retention", flags["worker-log-retention"]),
    workerLogMaxFiles: intFlag("worker-log-max-files", flags["worker-log-max-files"], 0, 1_000_000),
  };
}

/** "13,31" → [13, 31]; each an Xid code 0–9999. */
function xidList(flag: string, value: string | undefined): number[] {
  if (value === undefined || value.trim() === "") return [];
  return value.split(",").filter((part) => part.trim() !== "").map((part) => intFlag(flag, part.trim(), 0, 9999)!);
}

/** Flags of a hive that joins a queen; only `apiary hive` has them. */
export const hiveIdentityFlags = defineFlags([
  { name: "host", type: "string", value: "H", env: "APIARY_HIVE_HOST", default: "127.0.0.1", help: "address the HiveService listens on (it runs programs: keep it private)" },
  { name: "port", type: "string", value: "N", env: "APIARY_HIVE_PORT", default: "7835", help: "port of the HiveService (0 = any free port)" },
  { name: "advertise", type: "string", value: "URL", env: "APIARY_HIVE_ADVERTISE", help: "HiveService URL told to the queen [default: http://host:port]" },
  { name: "id", type: "string", value: "NAME", env: "APIARY_HIVE_ID", help: "hive id, unique in the cluster [default: hostname]" },
  { name: "label", type: "string", value: "K=V", env: "APIARY_HIVE_LABELS", multiple: true, help: "label for scheduling filters (env: comma-separated)" },
  { name: "ack-deadline", type: "string", value: "DUR", env: "APIARY_ACK_DEADLINE", default: "5s", help: "reconnect when the queen does not ack a report within this" },
  { name: "queen-ca", type: "string", value: "FILE", env: "APIARY_QUEEN_CA", help: "CA to verify the queen with [default: --client-ca]; the hive's --tls-cert/--tls-key are its client certificate" },
  { name: "allow-program", type: "string", value: "PATH|GLOB", env: "APIARY_ALLOW_PROGRAMS", multiple: true, help: "SpawnWorker may start only these programs, by real path (absolute path or glob; an interpreter only as 'INTERPRETER SCRIPT'; env: comma-separated)" },
  { name: "allow-env", type: "string", value: "NAME|GLOB", env: "APIARY_ALLOW_ENV", multiple: true, help: "SpawnWorker env variables passed on (replaces the default HF_*, VLLM_*, CUDA_*, NCCL_*…; LD_*, PYTHON*, BASH_ENV… are refused always; env: comma-separated)" },
]);

/** Reads hiveIdentityFlags, and the TLS files of serverSecurityFlags (the hive's client certificate), into a HiveConfig. */
export function hiveIdentity(flags: FlagValues<typeof hiveIdentityFlags> & Pick<ServerSecurityFlags, "tls-cert" | "tls-key" | "client-ca">): HiveConfig {
  const certFile = flags["tls-cert"];
  const keyFile = flags["tls-key"];
  const caFile = flags["queen-ca"] ?? flags["client-ca"];
  return {
    queenCredentials: certFile || caFile ? { ...(caFile ? { caFile } : {}), ...(certFile && keyFile ? { certFile, keyFile } : {}) } : undefined,
    allowPrograms: flags["allow-program"],
    allowEnv: flags["allow-env"],
    host: flags.host,
    port: intFlag("port", flags.port, 0, 65535),
    advertiseUrl: flags.advertise,
    hiveId: flags.id,
    labels: parseKeyValues("label", flags.label),
    ackDeadlineMs: durationFlag("ack-deadline", flags["ack-deadline"]),
  };
}
