import { UsageError, defineFlags, type FlagSpec, type FlagValues } from "./command.js";
import type { ServerSecurity } from "../rpc/server.js";
import { DEFAULT_SERVER_LIMITS } from "../rpc/server-limits.js";
import { durationFlag, intFlag } from "./parse-values.js";

export const logLevelFlag = {
  name: "log-level", type: "string", value: "LEVEL", env: "APIARY_LOG_LEVEL", default: "info",
  help: "fatal|error|warn|info|debug|trace|silent (logs go to stdout: pretty on a terminal, else JSON lines; APIARY_LOG_FORMAT=json|pretty chooses)",
} as const satisfies FlagSpec;

/** The queen's tunables as flags; `apiary queen` and `apiary up` share them. */
export const queenTuningFlags = defineFlags([
  { name: "shards", type: "string", value: "N", env: "APIARY_SHARDS", default: "16", help: "registry shards" },
  { name: "report-interval", type: "string", value: "DUR", env: "APIARY_REPORT_INTERVAL", default: "1s", help: "how often hives report (sent to them in the welcome)" },
  { name: "degraded-after", type: "string", value: "DUR", env: "APIARY_DEGRADED_AFTER", default: "3s", help: "a hive silent this long is DEGRADED" },
  { name: "down-after", type: "string", value: "DUR", env: "APIARY_DOWN_AFTER", default: "10s", help: "a hive silent this long is DOWN" },
  { name: "evict-after", type: "string", value: "DUR", env: "APIARY_EVICT_AFTER", default: "60s", help: "a DOWN hive is forgotten, with its workers, after this" },
  { name: "sweep-interval", type: "string", value: "DUR", env: "APIARY_SWEEP_INTERVAL", default: "250ms", help: "how often liveness is checked" },
  { name: "watch-history", type: "string", value: "N", env: "APIARY_WATCH_HISTORY", default: "10000", help: "events kept for Watch resume" },
  { name: "ended-retention", type: "string", value: "DUR", env: "APIARY_ENDED_RETENTION", default: "15m", help: "how long ended (exited, failed) workers stay listed" },
]);

/** `apiary queen` and `apiary up`: re-export per-GPU and per-worker series on the queen's /metrics. */
export const perDeviceMetricsFlag = {
  name: "metrics-per-device", type: "boolean", env: "APIARY_METRICS_PER_DEVICE",
  help: "also export every hive's per-GPU and per-worker series on the queen's /metrics (off: they come from each hive's /metrics)",
} as const satisfies FlagSpec;

/** Reads queenTuningFlags into startQueen options. */
export function queenTuning(flags: FlagValues<typeof queenTuningFlags>) {
  return {
    shards: intFlag("shards", flags.shards, 1, 4096),
    reportIntervalMs: durationFlag("report-interval", flags["report-interval"]),
    healthyMs: durationFlag("degraded-after", flags["degraded-after"]),
    degradedMs: durationFlag("down-after", flags["down-after"]),
    evictAfterMs: durationFlag("evict-after", flags["evict-after"]),
    sweepIntervalMs: durationFlag("sweep-interval", flags["sweep-interval"]),
    historySize: intFlag("watch-history", flags["watch-history"], 1, 10_000_000),
    endedWorkerRetentionMs: durationFlag("ended-retention", flags["ended-retention"]),
  };
}

/** TLS and client authentication of a server's port; `apiary queen` and `apiary hive` share them. */
export const serverSecurityFlags = defineFlags([
  { name: "tls-cert", type: "string", value: "FILE", env: "APIARY_TLS_CERT", help: "serve TLS with this certificate (PEM; reloaded on change or SIGHUP)" },
  { name: "tls-key", type: "string", value: "FILE", env: "APIARY_TLS_KEY", help: "key of --tls-cert (PEM)" },
  { name: "client-ca", type: "string", value: "FILE", env: "APIARY_CLIENT_CA", help: "verify client certificates against this CA; callers are identified by their SPIFFE ID" },
  { name: "token-file", type: "string", value: "FILE", env: "APIARY_TOKEN_FILE", help: "bearer tokens, hashed (apiary certs token writes it)" },
  { name: "insecure", type: "boolean", env: "APIARY_INSECURE", help: "allow listening beyond loopback without TLS or client authentication" },
  {
    name: "allow-host", type: "string", value: "NAME", env: "APIARY_ALLOW_HOSTS", multiple: true,
    help: "without TLS and tokens, also answer requests whose Host is NAME (loopback names and IP addresses always are; others are refused against DNS rebinding; env: comma-separated)",
  },
  { name: "max-connections", type: "string", value: "N", env: "APIARY_MAX_CONNECTIONS", default: String(DEFAULT_SERVER_LIMITS.maxConnections), help: "open connections in all; more are closed at once" },
  { name: "max-connections-per-peer", type: "string", value: "N", env: "APIARY_MAX_CONNECTIONS_PER_PEER", default: String(DEFAULT_SERVER_LIMITS.maxConnectionsPerPeer), help: "open connections from one peer address; more are closed at once" },
  { name: "max-streams-per-connection", type: "string", value: "N", env: "APIARY_MAX_STREAMS_PER_CONNECTION", default: String(DEFAULT_SERVER_LIMITS.maxStreamsPerConnection), help: "concurrent HTTP/2 streams per connection" },
  { name: "max-streams-per-peer", type: "string", value: "N", env: "APIARY_MAX_STREAMS_PER_PEER", default: String(DEFAULT_SERVER_LIMITS.maxStreamsPerPeer), help: "open Watch, StreamWorkerLogs and Health.Watch streams per peer address, each; more get RESOURCE_EXHAUSTED" },
]);
export type ServerSecurityFlags = FlagValues<typeof serverSecurityFlags>;

/** Reads serverSecurityFlags into the servers' ServerSecurity. */
export function serverSecurity(flags: ServerSecurityFlags): ServerSecurity {
  const cert = flags["tls-cert"];
  const key = flags["tls-key"];
  const clientCa = flags["client-ca"];
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--tls-cert and --tls-key go together");
  if (clientCa !== undefined && cert === undefined) throw new UsageError("--client-ca needs --tls-cert and --tls-key (client certificates are verified over TLS)");
  return {
    ...(cert && key ? { tls: { certFile: cert, keyFile: key, ...(clientCa ? { clientCaFile: clientCa } : {}) } } : {}),
    ...(flags["token-file"] ? { tokenFile: flags["token-file"] } : {}),
    insecure: flags.insecure === true,
    allowHosts: flags["allow-host"],
    limits: {
      maxConnections: intFlag("max-connections", flags["max-connections"], 1, 10_000_000),
      maxConnectionsPerPeer: intFlag("max-connections-per-peer", flags["max-connections-per-peer"], 1, 10_000_000),
      maxStreamsPerConnection: intFlag("max-streams-per-connection", flags["max-streams-per-connection"], 1, 1_000_000),
      maxStreamsPerPeer: intFlag("max-streams-per-peer", flags["max-streams-per-peer"], 1, 10_000_000),
    },
  };
}
