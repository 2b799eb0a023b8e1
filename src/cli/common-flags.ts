import type { FlagSpec } from "./command.js";

export const DEFAULT_QUEEN = "http://127.0.0.1:7833";
export const DEFAULT_HIVE = "http://127.0.0.1:7835";

export const queenFlag: FlagSpec = {
  name: "queen", type: "string", value: "ADDR", env: "APIARY_QUEEN", default: DEFAULT_QUEEN,
  help: "address of the queen",
};
export const hiveLabelFlag: FlagSpec = {
  name: "hive-label", type: "string", value: "K=V", multiple: true, help: "only hives carrying this label (K=V[,K=V…])",
};
export const workerLabelFlag: FlagSpec = {
  name: "label", short: "l", type: "string", value: "K=V", multiple: true, help: "only workers carrying this label (K=V[,K=V…], as kubectl -l)",
};
export const hiveIdFlag: FlagSpec = {
  name: "hive", type: "string", value: "ID", env: "APIARY_HIVE", help: "the hive's id (the queen says where it listens)",
};
export const hiveAddrFlag: FlagSpec = {
  name: "hive-addr", type: "string", value: "ADDR", env: "APIARY_HIVE_ADDR", help: "the hive's HiveService address, bypassing the queen",
};
export const includeDegradedFlag: FlagSpec = {
  name: "include-degraded", type: "boolean", help: "also list what runs on DEGRADED hives",
};
export const limitFlag: FlagSpec = { name: "limit", type: "string", value: "N", help: "at most N results (queen maximum 1000)" };
export const minFreeVramFlag: FlagSpec = {
  name: "min-free-vram", type: "string", value: "SIZE", help: "only GPUs with at least this much free memory (8GiB, 512MiB)",
};
