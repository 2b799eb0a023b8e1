// Whether dist/apiary.mjs must be rebuilt: bin/apiary.mjs asks on every start in a source checkout,
// so this module imports node:fs only and stats each input once (no Stats dates, no path joins).
import { readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** True when dist/apiary.mjs is missing or a file it was built from changed after the build
 * (dist/apiary.inputs.json, written by scripts/build.mjs, lists them). */
export function distIsStale() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(`${root}dist/apiary.inputs.json`, "utf8"));
    if (statSync(`${root}dist/apiary.mjs`, { throwIfNoEntry: false }) === undefined) return true;
  } catch {
    return true;
  }
  for (const rel of manifest.inputs) {
    // undefined: an input was removed or renamed
    const stat = statSync(`${root}${rel}`, { throwIfNoEntry: false });
    if (stat === undefined || stat.mtimeMs > manifest.builtAtMs) return true;
  }
  return false;
}
