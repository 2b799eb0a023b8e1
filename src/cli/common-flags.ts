import type { FlagSpec } from "./command.js";

export const DEFAULT_QUEEN = "http://127.0.0.1:7833";
export const DEFAULT_HIVE = "http://127.0.0.1:7835";

export const queenFlag: FlagSpec = {
  name: "queen", type: "string", value: "ADDR", env: "APIARY_QUEEN", default: DEFAULT_QUEEN,
  help: "address of the queen",
};
export const jsonFlag: FlagSpec = {
  name: "json", type: "boolean", help: "print the proto JSON mapping instead of a table",
};
export const labelFilterFlag: FlagSpec = {
  name: "label", type: "string", value: "K=V", multiple: true, help: "only hives carrying this label",
};
export const includeDegradedFlag: FlagSpec = {
  name: "include-degraded", type: "boolean", help: "also list what runs on DEGRADED hives",
};
export const limitFlag: FlagSpec = { name: "limit", type: "string", value: "N", help: "at most N results (queen maximum 1000)" };
export const minFreeVramFlag: FlagSpec = {
  name: "min-free-vram", type: "string", value: "SIZE", help: "only GPUs with at least this much free memory (8GiB, 512MiB)",
};
