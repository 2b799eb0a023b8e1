#!/usr/bin/env node
// Builds dist/apiary.mjs (+ dist/cli-chunks/): the CLI and both servers bundled by esbuild, so
// `apiary` starts without compiling TypeScript. Run by `npm ci`/`npm install` (prepare) and
// `npm pack`; bin/apiary.mjs rebuilds when a source the last build read has changed since.
// Usage: node scripts/build.mjs [--if-stale]
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { distIsStale } from "./dist-stale.mjs";

export { distIsStale };

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const DIST_ENTRY = path.join(root, "dist", "apiary.mjs");
// Read by dist-stale.mjs (distIsStale), which bin/apiary.mjs imports on every start.
const MANIFEST = path.join(root, "dist", "apiary.inputs.json");
const CHUNKS = path.join(root, "dist", "cli-chunks");
// Loaded from node_modules at run time, not bundled: pino starts transports (pino-pretty) as
// worker threads by resolving their files on disk.
const EXTERNAL = ["pino", "pino-pretty", "thread-stream"];
// Besides the sources esbuild reads: a dependency change or a change to this script rebuilds too.
const ALSO_WATCHED = ["package-lock.json", "scripts/build.mjs", "scripts/dist-stale.mjs"];

/** Bundles src/cli.ts into dist/apiary.mjs plus one chunk per command under dist/cli-chunks/, loaded
 * when that command runs (the command table imports each command lazily), so `apiary --help` parses
 * a few kB instead of the whole 2 MB. Chunk names carry a content hash and are written before the
 * entry, which is written under a temporary name and renamed: a concurrent start never imports a
 * half-written file, and one already running keeps finding the chunks it was built with. */
export async function buildDist() {
  const builtAtMs = Date.now();
  const { build } = await import("esbuild");
  mkdirSync(CHUNKS, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { apiary: "src/cli.ts" },
    outdir: path.dirname(DIST_ENTRY),
    outExtension: { ".js": ".mjs" },
    chunkNames: "cli-chunks/[name]-[hash]",
    splitting: true,
    write: false,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: EXTERNAL,
    // Bundled CommonJS dependencies call require(); an ES module has none of its own.
    banner: { js: 'import { createRequire as __apiaryCreateRequire } from "node:module";\nconst require = __apiaryCreateRequire(import.meta.url);' },
    // Whitespace and syntax only: V8 parses a third less at each start; names stay, so stack traces still read.
    minifyWhitespace: true,
    minifySyntax: true,
    metafile: true,
    logLevel: "warning",
  });
  const entry = result.outputFiles.find((f) => f.path === DIST_ENTRY);
  const written = new Set();
  for (const file of [...result.outputFiles.filter((f) => f !== entry), entry]) {
    const tmp = `${file.path}.${process.pid}.tmp`;
    writeFileSync(tmp, file.contents);
    renameSync(tmp, file.path);
    written.add(path.basename(file.path));
  }
  pruneOldChunks(written);
  const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.includes("node_modules/"));
  const manifest = { builtAtMs, inputs: [...inputs, ...ALSO_WATCHED.filter((f) => existsSync(path.join(root, f)))] };
  const tmpManifest = `${MANIFEST}.${process.pid}.tmp`;
  writeFileSync(tmpManifest, `${JSON.stringify(manifest, null, 1)}\n`);
  renameSync(tmpManifest, MANIFEST);
}

/** Chunks of earlier builds, once no process started from them can still be loading them (an hour). */
function pruneOldChunks(current) {
  for (const name of readdirSync(CHUNKS)) {
    const file = path.join(CHUNKS, name);
    if (!current.has(name) && statSync(file).mtimeMs < Date.now() - 3_600_000) rmSync(file, { force: true });
  }
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  if (!process.argv.includes("--if-stale") || distIsStale()) await buildDist();
}
