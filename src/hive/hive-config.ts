import os from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import type { ServerSecurity } from "../rpc/server.js";
import type { ClientCredentials } from "../rpc/transport.js";
import { parseQueenList } from "../common/queen-addresses.js";
import { wantsTls } from "../rpc/tls/client-credentials.js";
import { DEFAULT_SCRAPE_DEADLINE_MS, DEFAULT_SCRAPE_MAX_BYTES } from "./engine/fetch-metrics.js";
import type { SendOnChangeOptions } from "./report-delta.js";
import { DEFAULT_WORKER_LOG_RETENTION } from "./workers/worker-log-retention.js";
import { DEFAULT_ALLOW_ENV, EnvAllowList } from "./workers/worker-env.js";
import { ProgramAllowList } from "./workers/program-allow-list.js";

export type CgroupModeSetting = "auto" | "v2" | "v1" | "none";

/** How to run a hive. Every field is optional; see resolveHiveConfig for the defaults. */
export interface HiveConfig {
  /**
   * The queen's URL or host:port, e.g. "http://10.0.0.1:7833", or several separated by commas
   * (the hive fails over between them); unset = standalone (no heartbeat).
   */
  queenUrl?: string;
  /** Listen address of the HiveService; default 127.0.0.1. */
  host?: string;
  /** Default 7835; 0 = any free port. */
  port?: number;
  /** URL advertised to the queen as this hive's endpoint; default http://<host>:<port> (the hostname when host is a wildcard). */
  advertiseUrl?: string;
  /** Default: the hostname. */
  hiveId?: string;
  labels?: Record<string, string>;
  /** Default env APIARY_NVIDIA_SMI, else "nvidia-smi" from PATH. */
  nvidiaSmiPath?: string;
  /** Hard deadline of each nvidia-smi call; default 2000 ms. */
  gpuDeadlineMs?: number;
  /** false: never run nvidia-smi (report NOT_FOUND). Default true. */
  gpuEnabled?: boolean;
  /** Kernel log read for Xid events; default /dev/kmsg (--kmsg-path). */
  kmsgPath?: string;
  /** Xid codes the GPU verdict ignores (--gpu-health-ignore-xid 13,31); default none. */
  gpuHealthIgnoreXids?: number[];
  /** How long an Xid keeps its GPU's verdict; default 10 minutes (--gpu-health-xid-hold). */
  gpuXidHoldMs?: number;
  /** Default env APIARY_CGROUP_ROOT, else /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** Default "auto": detect. */
  cgroupMode?: CgroupModeSetting;
  /**
   * The hive's group below each cgroup hierarchy; workers go in `<parent>/<worker_id>`. Default
   * env APIARY_CGROUP_PARENT, else `apiary/<hive_id>`: two hives on one machine never share one.
   */
  cgroupParent?: string;
  /** Worker metadata and logs; default /var/lib/apiary/hive as root, else ~/.local/state/apiary/hive. */
  stateDir?: string;
  /** Logs of ended workers older than this are deleted; default 7 days. */
  workerLogRetentionMs?: number;
  /** The most ended workers' logs kept; default 1000. */
  workerLogMaxFiles?: number;
  /** Monitor tick interval; default 1000 ms. */
  tickIntervalMs?: number;
  /** Hard deadline of each scrape of a worker's engine /metrics; default 300 ms. */
  engineScrapeDeadlineMs?: number;
  /** Largest engine /metrics response read; larger ones are cut and count as a failed scrape. Default 4 MiB. */
  engineScrapeMaxBytes?: number;
  /** Heartbeat report interval until the queen's Welcome sets one; default 1000 ms. */
  reportIntervalMs?: number;
  /** Time allowed for each heartbeat ack; default 5000 ms. */
  ackDeadlineMs?: number;
  /** Transport ping interval and timeout towards the queen; default 5000 ms each. */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** The most close() waits for the queen to take the Goodbye; default 2000 ms. */
  goodbyeDeadlineMs?: number;
  /** Default: the shared logger factory's "hive" logger. */
  logger?: Logger;
  /** TLS and client authentication of the HiveService (--tls-cert, --tls-key, --client-ca, --token-file, --insecure). */
  security?: ServerSecurity;
  /** How the heartbeat authenticates to the queen: CA, the hive's certificate and key (--queen-ca, --cert, --key). */
  queenCredentials?: ClientCredentials;
  /** Absolute paths or globs of the programs SpawnWorker may start; empty or unset: any (--allow-program). */
  allowPrograms?: string[];
  /**
   * Names or globs of the SpawnWorker env variables passed on (--allow-env); empty or unset:
   * DEFAULT_ALLOW_ENV. Loader, shell and interpreter variables are refused whatever this says.
   */
  allowEnv?: string[];
  /**
   * Send-on-change heartbeats to a queen that accepts them: the deadbands and the full-report
   * interval (default 30 s), or false for full reports every interval. Default on.
   */
  sendOnChange?: SendOnChangeOptions | false;
}

export type ResolvedHiveConfig = Required<Omit<HiveConfig, "queenUrl" | "advertiseUrl" | "hiveId" | "logger" | "cgroupRoot" | "security" | "queenCredentials">> & {
  security: ServerSecurity;
  queenCredentials: ClientCredentials | undefined;
  /** The queens' normalized URLs joined by commas (for logs and the startup line); undefined = standalone. */
  queenUrl: string | undefined;
  /** The same, one URL each, in the configured order; empty = standalone. */
  queenUrls: string[];
  advertiseUrl: string | undefined;
  hiveId: string;
  cgroupRoot: string | undefined;
  logger: Logger | undefined;
};

export const DEFAULT_HIVE_HOST = "127.0.0.1";
export const DEFAULT_HIVE_PORT = 7835;

/** Fills every default; values from `env` (APIARY_NVIDIA_SMI, APIARY_CGROUP_ROOT) apply only to unset fields. */
export function resolveHiveConfig(config: HiveConfig, env: NodeJS.ProcessEnv = process.env): ResolvedHiveConfig {
  const queenUrls = config.queenUrl?.trim() ? parseQueenList(config.queenUrl, wantsTls(config.queenCredentials)) : [];
  const resolved: ResolvedHiveConfig = {
    queenUrl: queenUrls.length > 0 ? queenUrls.join(",") : undefined,
    queenUrls,
    host: config.host ?? DEFAULT_HIVE_HOST,
    port: config.port ?? DEFAULT_HIVE_PORT,
    advertiseUrl: nonEmpty(config.advertiseUrl),
    hiveId: nonEmpty(config.hiveId) ?? nonEmpty(env.APIARY_HIVE_ID) ?? os.hostname(),
    labels: { ...(config.labels ?? {}) },
    nvidiaSmiPath: nonEmpty(config.nvidiaSmiPath) ?? nonEmpty(env.APIARY_NVIDIA_SMI) ?? "nvidia-smi",
    gpuDeadlineMs: config.gpuDeadlineMs ?? 2000,
    gpuEnabled: config.gpuEnabled ?? true,
    kmsgPath: nonEmpty(config.kmsgPath) ?? "/dev/kmsg",
    gpuHealthIgnoreXids: [...(config.gpuHealthIgnoreXids ?? [])],
    gpuXidHoldMs: config.gpuXidHoldMs ?? 10 * 60_000,
    cgroupRoot: nonEmpty(config.cgroupRoot) ?? nonEmpty(env.APIARY_CGROUP_ROOT),
    cgroupMode: config.cgroupMode ?? "auto",
    cgroupParent: "",
    stateDir: nonEmpty(config.stateDir) ?? defaultStateDir(),
    workerLogRetentionMs: config.workerLogRetentionMs ?? DEFAULT_WORKER_LOG_RETENTION.maxAgeMs,
    workerLogMaxFiles: config.workerLogMaxFiles ?? DEFAULT_WORKER_LOG_RETENTION.maxFiles,
    tickIntervalMs: config.tickIntervalMs ?? 1000,
    engineScrapeDeadlineMs: config.engineScrapeDeadlineMs ?? DEFAULT_SCRAPE_DEADLINE_MS,
    engineScrapeMaxBytes: config.engineScrapeMaxBytes ?? DEFAULT_SCRAPE_MAX_BYTES,
    reportIntervalMs: config.reportIntervalMs ?? 1000,
    ackDeadlineMs: config.ackDeadlineMs ?? 5000,
    pingIntervalMs: config.pingIntervalMs ?? 5000,
    pingTimeoutMs: config.pingTimeoutMs ?? 5000,
    goodbyeDeadlineMs: config.goodbyeDeadlineMs ?? 2000,
    logger: config.logger,
    security: { ...(config.security ?? {}) },
    queenCredentials: config.queenCredentials,
    allowPrograms: [...(config.allowPrograms ?? [])],
    allowEnv: config.allowEnv && config.allowEnv.length > 0 ? [...config.allowEnv] : [...DEFAULT_ALLOW_ENV],
    sendOnChange: config.sendOnChange ?? {},
  };
  resolved.cgroupParent = nonEmpty(config.cgroupParent) ?? nonEmpty(env.APIARY_CGROUP_PARENT) ?? defaultCgroupParent(resolved.hiveId);
  validate(resolved);
  return resolved;
}

/** `apiary/<hive_id>`, the hive id made a safe directory name. */
export function defaultCgroupParent(hiveId: string): string {
  const name = hiveId.replace(/[^A-Za-z0-9._-]/g, "_");
  return `apiary/${name === "." || name === ".." ? "_" : name}`;
}

/** /var/lib/apiary/hive as root, else ~/.local/state/apiary/hive (XDG_STATE_HOME when set). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? -1): string {
  if (uid === 0) return "/var/lib/apiary/hive";
  const stateHome = nonEmpty(env.XDG_STATE_HOME) ?? path.join(os.homedir(), ".local", "state");
  return path.join(stateHome, "apiary", "hive");
}

/** The URL the queen and tools should use to reach this hive. */
export function advertisedEndpoint(config: ResolvedHiveConfig, boundPort: number): string {
  if (config.advertiseUrl) return config.advertiseUrl;
  const wildcard = config.host === "0.0.0.0" || config.host === "::" || config.host === "";
  const host = wildcard ? os.hostname() : config.host;
  const scheme = config.security.tls ? "https" : "http";
  return `${scheme}://${host.includes(":") ? `[${host}]` : host}:${boundPort}`;
}

function validate(config: ResolvedHiveConfig): void {
  const positive: (keyof ResolvedHiveConfig)[] = ["gpuDeadlineMs", "tickIntervalMs", "reportIntervalMs", "ackDeadlineMs", "pingIntervalMs", "pingTimeoutMs", "workerLogRetentionMs", "engineScrapeDeadlineMs", "engineScrapeMaxBytes", "gpuXidHoldMs"];
  for (const key of positive) {
    const value = config[key];
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw new RangeError(`hive config ${key}: must be a positive number, got ${String(value)}`);
  }
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) throw new RangeError(`hive config port: must be 0-65535, got ${config.port}`);
  if (!Number.isInteger(config.workerLogMaxFiles) || config.workerLogMaxFiles < 0) throw new RangeError(`hive config workerLogMaxFiles: must be an integer >= 0, got ${config.workerLogMaxFiles}`);
  if (!(config.goodbyeDeadlineMs >= 0)) throw new RangeError(`hive config goodbyeDeadlineMs: must be >= 0, got ${config.goodbyeDeadlineMs}`);
  for (const p of config.allowPrograms) if (!p.startsWith("/")) throw new RangeError(`hive config allowPrograms: ${JSON.stringify(p)} must be an absolute path or glob`);
  new ProgramAllowList(config.allowPrograms); // throws naming a malformed entry
  new EnvAllowList(config.allowEnv);
  const parts = config.cgroupParent.split("/");
  if (config.cgroupParent.startsWith("/") || parts.some((p) => p === "" || p === "." || p === "..")) {
    throw new RangeError(`hive config cgroupParent: must be a relative path without empty, "." or ".." parts, got ${JSON.stringify(config.cgroupParent)}`);
  }
  if (!["auto", "v2", "v1", "none"].includes(config.cgroupMode)) throw new RangeError(`hive config cgroupMode: must be auto, v2, v1 or none, got ${config.cgroupMode}`);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value !== "" ? value : undefined;
}
