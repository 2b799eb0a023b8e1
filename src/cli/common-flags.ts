import { defineFlags, type FlagSpec } from "./command.js";

/** Scheme-less: https:// when TLS settings are given, else http://. */
export const DEFAULT_QUEEN = "127.0.0.1:7833";
export const DEFAULT_HIVE = "127.0.0.1:7835";

/** No default in the spec: a context's queen sits between the environment and the default (client-config.ts). */
export const queenFlag = {
  name: "queen", type: "string", value: "ADDR", env: "APIARY_QUEEN",
  help: "address of the queen [default: the context's, else 127.0.0.1:7833]",
} as const satisfies FlagSpec;

/**
 * How a client reaches and authenticates to queens and hives. Each setting comes from its flag,
 * else its variable, else the selected context of the config file, else the default.
 */
export const connectionFlags = defineFlags([
  { name: "context", type: "string", value: "NAME", env: "APIARY_CONTEXT", help: "context of the config file to use [default: its current-context]" },
  { name: "ca", type: "string", value: "FILE", env: "APIARY_CA", help: "CA bundle to verify servers with (https; default: the system's)" },
  { name: "cert", type: "string", value: "FILE", env: "APIARY_CERT", help: "client certificate (mutual TLS)" },
  { name: "key", type: "string", value: "FILE", env: "APIARY_KEY", help: "key of the client certificate" },
  { name: "token-file", type: "string", value: "FILE", help: "file holding the bearer token sent with every call" },
  { name: "token", type: "string", value: "TOKEN", env: "APIARY_TOKEN", help: "bearer token (prefer $APIARY_TOKEN or --token-file: argv is visible in /proc)" },
  { name: "request-timeout", type: "string", value: "DUR", env: "APIARY_REQUEST_TIMEOUT", help: "deadline of each call (streams excepted) [default: 10s]" },
]);

/** --queen plus the connection flags: every command that talks to the queen. */
export const queenFlags = defineFlags([queenFlag, ...connectionFlags]);
/** `--json`, the alias of `-o json`. */
export { jsonFlag } from "./output/output-format.js";

export const hiveLabelFlag = {
  name: "hive-label", type: "string", value: "K=V", multiple: true, help: "only hives carrying this label (K=V[,K=V…])",
} as const satisfies FlagSpec;
export const workerLabelFlag = {
  name: "label", short: "l", type: "string", value: "K=V", multiple: true, help: "only workers carrying this label (K=V[,K=V…], as kubectl -l)",
} as const satisfies FlagSpec;
export const hiveIdFlag = {
  name: "hive", type: "string", value: "ID", env: "APIARY_HIVE", help: "the hive's id (the queen says where it listens)",
} as const satisfies FlagSpec;
export const hiveAddrFlag = {
  name: "hive-addr", type: "string", value: "ADDR", env: "APIARY_HIVE_ADDR", help: "the hive's HiveService address, bypassing the queen",
} as const satisfies FlagSpec;
export const includeDegradedFlag = {
  name: "include-degraded", type: "boolean", help: "also list what runs on DEGRADED hives",
} as const satisfies FlagSpec;
export const limitFlag = { name: "limit", type: "string", value: "N", help: "at most N results (queen maximum 1000)" } as const satisfies FlagSpec;
export const minFreeVramFlag = {
  name: "min-free-vram", type: "string", value: "SIZE", help: "only GPUs with at least this much free memory (8GiB, 512MiB)",
} as const satisfies FlagSpec;
