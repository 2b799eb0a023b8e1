#!/usr/bin/env node
// Bundles the web dashboard (src/dashboard/app.ts and what it imports) into dist/dashboard/dashboard.js
// with esbuild (from npm; nothing is downloaded). Run by `npm ci`/`npm install` (prepare) and by the
// queen on the first request when the bundle is missing.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const DASHBOARD_BUNDLE = path.join(root, "dist", "dashboard", "dashboard.js");

/** Builds the bundle; resolves with its path. */
export async function buildDashboard({ minify = true } = {}) {
  const esbuild = await import("esbuild");
  mkdirSync(path.dirname(DASHBOARD_BUNDLE), { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(root, "src", "dashboard", "app.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022"],
    minify,
    legalComments: "none",
    outfile: DASHBOARD_BUNDLE,
    logLevel: "warning",
  });
  return DASHBOARD_BUNDLE;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildDashboard();
  console.log(`dashboard bundle: ${path.relative(process.cwd(), out)}`);
}
