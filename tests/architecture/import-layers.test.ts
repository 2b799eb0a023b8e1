import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { packagePath } from "../../src/common/package-root.js";

/**
 * The folders of src/ form layers: a module may import its own folder and any lower layer, never a
 * higher one nor a sibling of its own layer. src/README.md describes the same order.
 */
const LAYERS: readonly (readonly string[])[] = [
  ["common"],
  ["contracts"],
  ["rpc"],
  ["etcd"],
  ["queen", "hive", "client"],
  ["dashboard", "route"],
  ["cli"],
];

const SRC = packagePath("src");

function folderOf(src: string, file: string): string {
  const rel = path.relative(src, file).split(path.sep);
  return rel.length === 1 ? "cli" : rel[0]!;
}

function layerOf(folder: string): number {
  const layer = LAYERS.findIndex((names) => names.includes(folder));
  if (layer < 0) throw new Error(`src/${folder} is in no layer of the import-layer test`);
  return layer;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

function relativeImports(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.\.?\/[^"']+)["']/g)) found.push(match[1]!);
  return found;
}

/** Every import in src/ that runs up the layers or across one layer, as "importer -> imported". */
function layerViolations(src: string): string[] {
  const violations: string[] = [];
  for (const file of sourceFiles(src)) {
    const from = folderOf(src, file);
    for (const spec of relativeImports(readFileSync(file, "utf8"))) {
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(src + path.sep)) continue;
      const to = folderOf(src, target);
      if (to === from) continue;
      if (layerOf(to) >= layerOf(from)) violations.push(`${path.relative(src, file)} -> ${path.relative(src, target)}`);
    }
  }
  return violations.sort();
}

describe("src/ import layers", () => {
  it("every top folder of src/ has a layer", () => {
    const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    for (const folder of folders) expect(() => layerOf(folder), folder).not.toThrow();
  });

  it("no import runs upward or sideways: common < contracts < rpc < etcd < queen|hive|client < dashboard|route < cli", () => {
    expect(layerViolations(SRC)).toEqual([]);
  });

  it("the check reports an upward import and a sideways one, and lets a downward one pass", () => {
    const src = mkdtempSync(path.join(tmpdir(), "layers-"));
    const write = (file: string, text: string) => {
      mkdirSync(path.dirname(path.join(src, file)), { recursive: true });
      writeFileSync(path.join(src, file), text);
    };
    write("common/wait.ts", `import { serve } from "../rpc/server.js";\n`);
    write("rpc/server.ts", `import { pause } from "../common/wait.js";\n`);
    write("queen/queen.ts", `const hive = await import("../hive/hive.js");\n`);
    write("hive/hive.ts", `export {};\n`);
    expect(layerViolations(src)).toEqual(["common/wait.ts -> rpc/server.js", "queen/queen.ts -> hive/hive.js"]);
  });
});
