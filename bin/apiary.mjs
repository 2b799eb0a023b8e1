#!/usr/bin/env node
// Runs the built bundle dist/apiary.mjs (made by `npm ci`, `npm install` and `npm pack` through
// scripts/build.mjs), so no TypeScript is compiled at start. In a source checkout the bundle is
// rebuilt first when a file it was built from has changed, so the command and the tests always
// run the current sources.
import { existsSync } from "node:fs";

if (existsSync(new URL("../src/cli.ts", import.meta.url))) {
  const { distIsStale } = await import("../scripts/dist-stale.mjs");
  if (distIsStale()) await (await import("../scripts/build.mjs")).buildDist();
}
await import("../dist/apiary.mjs");
