import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildDist, distIsStale, DIST_ENTRY } from "../../scripts/build.mjs";

/** dist/apiary.mjs and every chunk it imports statically: what `apiary --help` parses. */
function staticallyLoaded(file: string, seen = new Map<string, string>()): Map<string, string> {
  if (seen.has(file)) return seen;
  const text = readFileSync(file, "utf8");
  seen.set(file, text);
  // Static imports and re-exports, minified or not: `import"./x"`, `}from"./x"`, `} from "./x"` (never `import("./x")`).
  for (const m of text.matchAll(/(?:\bimport|\bfrom)\s*"(\.\/[^"]+)"/g)) staticallyLoaded(path.resolve(path.dirname(file), m[1]), seen);
  return seen;
}

describe("dist/apiary.mjs", () => {
  it("loads the command table only: each command's code (RPC stack, protobuf descriptors) is imported when it runs", async () => {
    if (distIsStale()) await buildDist();
    const loaded = [...staticallyLoaded(DIST_ENTRY).values()].join("\n");
    expect(loaded).toContain("find workers (FindWorkers)");
    expect(loaded).not.toContain("apiary.v1.QueenService");
    expect(loaded).not.toContain("createConnectTransport");
    expect(loaded.length).toBeLessThan(100_000);
    expect(loaded).toMatch(/import\("\.\/(cli-chunks\/)?workers-[A-Z0-9]+\.mjs"\)/);
  });

  it("starts `apiary workers` without the YAML library: it loads when a config file is read or -o yaml printed", async () => {
    if (distIsStale()) await buildDist();
    const table = [...staticallyLoaded(DIST_ENTRY).values()].join("\n");
    const chunk = /import\("\.\/((?:cli-chunks\/)?workers-[A-Z0-9]+\.mjs)"\)/.exec(table)![1];
    const file = path.join(path.dirname(DIST_ENTRY), chunk.startsWith("cli-chunks/") ? chunk : path.join("cli-chunks", chunk));
    const workers = [...staticallyLoaded(file).values()].join("\n");
    expect(workers).toContain("FindWorkers");
    // The yaml package's parse error class: its parser is bundled with it.
    expect(workers).not.toContain("YAMLParseError");
  });
});
