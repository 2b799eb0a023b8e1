import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    pool: "forks",
    // Tests spawn bin/apiary.mjs, which runs the bundle: build it once up front when a source changed.
    globalSetup: ["tests/helpers/build-dist.ts"],
    // Generous: a loaded 2-core machine can take seconds to start a node process.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real servers, processes and cgroups and some read CPU use: one file at a time
    // keeps a file's measurements from being starved by another's load on a 2-core machine.
    fileParallelism: false,
  },
});
