// The checks live in src/rpc/ because hive and queen share them.
export * from "../rpc/field-checks.js";
