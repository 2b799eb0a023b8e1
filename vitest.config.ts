import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests start real servers, processes and cgroups; two cores are shared by all of them.
    maxWorkers: 2,
  },
});
