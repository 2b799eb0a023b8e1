import { randomBytes } from "node:crypto";
import { basename } from "node:path";

/** A short, readable id: `w-<model slug>-<4 hex>`, e.g. `w-llama-3-8b-instruct-q4-9f2c`. */
export function generateWorkerId(model: string): string {
  const slug = basename(model)
    .replace(/\.gguf$/i, "")
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, "-")
    .replace(/^[-.]+|[-.]+$/g, "")
    .slice(0, 40)
    .replace(/[-.]+$/, "");
  return `w-${slug || "worker"}-${randomBytes(2).toString("hex")}`;
}
