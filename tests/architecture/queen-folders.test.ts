import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { packagePath } from "../../src/common/package-root.js";

/**
 * The queen's concept folders (registry, ingest, watch, scheduling, cluster, metrics) import one
 * another in one direction only: a cycle (cluster <-> ingest over HiveClaims, as it was) means two
 * folders are one concept, or a shared piece sits in the wrong one.
 */
const QUEEN = packagePath("src", "queen");

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []));
}

/** folder -> the sibling folders its files import (type-only imports count too). */
function folderGraph(root: string): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const folder of readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)) {
    const targets = new Set<string>();
    for (const file of filesUnder(path.join(root, folder))) {
      for (const m of readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*["'](\.\.?\/[^"']+)["']/g)) {
        const rel = path.relative(root, path.resolve(path.dirname(file), m[1]!)).split(path.sep);
        if (rel.length > 1 && rel[0] !== folder && rel[0] !== "..") targets.add(rel[0]!);
      }
    }
    graph.set(folder, targets);
  }
  return graph;
}

/** Each cycle found, as "a -> b -> a". */
function cycles(graph: Map<string, Set<string>>): string[] {
  const found: string[] = [];
  const visit = (node: string, trail: string[]): void => {
    for (const next of graph.get(node) ?? []) {
      const at = trail.indexOf(next);
      if (at >= 0) found.push([...trail.slice(at), next].join(" -> "));
      else visit(next, [...trail, next]);
    }
  };
  for (const start of [...graph.keys()].sort()) visit(start, [start]);
  return [...new Set(found.filter((c) => c.startsWith(c.split(" -> ").sort()[0]! + " ")))].sort();
}

describe("src/queen/ concept folders", () => {
  it("import one another without a cycle", () => {
    expect(cycles(folderGraph(QUEEN))).toEqual([]);
  });

  it("the check finds a cycle between two folders and lets a one-way import pass", () => {
    const graph = new Map([
      ["cluster", new Set(["ingest", "registry"])],
      ["ingest", new Set(["cluster", "registry"])],
      ["registry", new Set<string>()],
    ]);
    expect(cycles(graph)).toEqual(["cluster -> ingest -> cluster"]);
    graph.get("ingest")!.delete("cluster");
    expect(cycles(graph)).toEqual([]);
  });
});
