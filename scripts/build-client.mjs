#!/usr/bin/env node
// Builds the `apiary/client` entry point: dist/client.mjs (src/client/index.ts bundled by esbuild,
// its npm dependencies left as imports so a consumer shares their one copy: ConnectError,
// protobuf schemas) and its type declarations under dist/types/ (tsc). Run by `npm ci`/`npm pack`
// (prepare). Usage: node scripts/build-client.mjs
import { execFile } from "node:child_process";
import { mkdirSync, renameSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const CLIENT_ENTRY = path.join(root, "dist", "client.mjs");
export const CLIENT_TYPES = path.join(root, "dist", "types");

/** Writes dist/client.mjs (under a temporary name, then renamed) and dist/types/. */
export async function buildClient() {
  const { build } = await import("esbuild");
  mkdirSync(path.dirname(CLIENT_ENTRY), { recursive: true });
  const tmp = `${CLIENT_ENTRY}.${process.pid}.tmp`;
  await build({
    absWorkingDir: root,
    entryPoints: ["src/client/index.ts"],
    outfile: tmp,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "warning",
  });
  renameSync(tmp, CLIENT_ENTRY);
  const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
  await promisify(execFile)(process.execPath, [tsc, "-p", path.join(root, "tsconfig.client.json")], { cwd: root, maxBuffer: 16 << 20 });
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) await buildClient();
