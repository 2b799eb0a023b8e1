import { buildDist, distIsStale } from "../../scripts/build.mjs";

/** vitest global setup: build dist/apiary.mjs once before the tests that spawn bin/apiary.mjs. */
export default async function setup(): Promise<void> {
  if (distIsStale()) await buildDist();
}
