#!/usr/bin/env node
// Runs the benchmarks' TypeScript sources through tsx's loader: `npm run bench` runs every
// figure; `node bin/bench.mjs <figure> [--flags]` runs one (see BENCHMARKS.md).
import { register } from "tsx/esm/api";

register();
await import("../bench/run-all.ts");
