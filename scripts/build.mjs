#!/usr/bin/env node
// Builds dist/apiary.mjs: the CLI and both servers as one ES module bundled by esbuild, so
// `apiary` starts without compiling TypeScript. Run by `npm ci`/`npm install` (prepare) and
// `npm pack`; bin/apiary.mjs rebuilds when a source the last build read has changed since.
// Usage: node scripts/build.mjs [--if-stale]
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const DIST_ENTRY = path.join(root, "dist", "apiary.mjs");
const MANIFEST = path.join(root, "dist", "apiary.inputs.json");
// Loaded from node_modules at run time, not bundled: pino starts transports (pino-pretty) as
// worker threads by resolving their files on disk.
const EXTERNAL = ["pino", "pino-pretty", "thread-stream"];
// Besides the sources esbuild reads: a dependency change or a change to this script rebuilds too.
const ALSO_WATCHED = ["package-lock.json", "scripts/build.mjs"];

/** True when dist/apiary.mjs is missing or a file it was built from changed after the build. */
export function distIsStale() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(MANIFEST, "utf8"));
    if (!existsSync(DIST_ENTRY)) return true;
  } catch {
    return true;
  }
  for (const rel of manifest.inputs) {
    try {
      if (statSync(path.join(root, rel)).mtimeMs > manifest.builtAtMs) return true;
    } catch {
      return true; // an input was removed or renamed
    }
  }
  return false;
}

/** Bundles src/cli.ts into dist/apiary.mjs (written under a temporary name, then renamed, so a
 * concurrent start never imports a half-written file). */
export async function buildDist() {
  const builtAtMs = Date.now();
  const { build } = await import("esbuild");
  mkdirSync(path.dirname(DIST_ENTRY), { recursive: true });
  const tmp = `${DIST_ENTRY}.${process.pid}.tmp`;
  const result = await build({
    absWorkingDir: root,
    entryPoints: ["src/cli.ts"],
    outfile: tmp,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: EXTERNAL,
    // Bundled CommonJS dependencies call require(); an ES module has none of its own.
    banner: { js: 'import { createRequire as __apiaryCreateRequire } from "node:module";\nconst require = __apiaryCreateRequire(import.meta.url);' },
    metafile: true,
    logLevel: "warning",
  });
  const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.includes("node_modules/"));
  renameSync(tmp, DIST_ENTRY);
  const manifest = { builtAtMs, inputs: [...inputs, ...ALSO_WATCHED.filter((f) => existsSync(path.join(root, f)))] };
  const tmpManifest = `${MANIFEST}.${process.pid}.tmp`;
  writeFileSync(tmpManifest, `${JSON.stringify(manifest, null, 1)}\n`);
  renameSync(tmpManifest, MANIFEST);
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  if (!process.argv.includes("--if-stale") || distIsStale()) await buildDist();
}
