import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { PACKAGE_ROOT } from "../../src/common/package-root.js";
import { describe, expect, it } from "vitest";

const ROOT = PACKAGE_ROOT;

interface Instruction {
  op: string;
  args: string;
}

/** Containerfile instructions, continuation lines joined, comments dropped, split into stages. */
function stages(text: string): Instruction[][] {
  const joined = text.split("\n").filter((l) => !/^\s*#/.test(l)).join("\n").replace(/\\\n/g, " ");
  const out: Instruction[][] = [];
  for (const line of joined.split("\n")) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1].toUpperCase();
    if (op === "FROM") out.push([]);
    out.at(-1)!.push({ op, args: m[2].trim() });
  }
  return out;
}

const containerfile = stages(readFileSync(path.join(ROOT, "deploy", "Containerfile"), "utf8"));
const ignored = readFileSync(path.join(ROOT, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
const runtime = containerfile.at(-1)!;
const all = (stage: Instruction[], op: string) => stage.filter((i) => i.op === op).map((i) => i.args);

describe("deploy/Containerfile", () => {
  it("builds on node:20-slim in every stage", () => {
    expect(containerfile.length).toBe(2);
    for (const stage of containerfile) expect(stage[0].args).toMatch(/^node:20-slim(\s|$)/);
  });

  it("installs production dependencies only, from the lock file, in the image that runs", () => {
    const copies = all(runtime, "COPY");
    expect(copies).toContain("package.json package-lock.json ./");
    expect(all(runtime, "RUN").some((r) => /\bnpm ci --omit=dev\b/.test(r))).toBe(true);
    expect(all(runtime, "RUN").some((r) => /\bnpm (install|i)\b/.test(r))).toBe(false);
    expect(copies).toContain("--from=build /src/dist/ dist/");
  });

  it("runs as a non-root user, the queen by default, through the bundled CLI", () => {
    expect(all(runtime, "USER")).toEqual(["node"]);
    expect(JSON.parse(all(runtime, "ENTRYPOINT")[0])).toEqual(["node", "/opt/apiary/bin/apiary.mjs"]);
    expect(JSON.parse(all(runtime, "CMD")[0])).toEqual(["queen"]);
    expect(all(runtime, "EXPOSE")[0].split(/\s+/)).toEqual(["7833", "7835"]);
  });

  it("copies only what exists and what .dockerignore lets into the build context", () => {
    const sources = containerfile
      .flatMap((stage) => all(stage, "COPY"))
      .filter((c) => !c.startsWith("--from="))
      .flatMap((c) => c.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(3);
    for (const source of sources) {
      expect(existsSync(path.join(ROOT, source)), source).toBe(true);
      if (source !== ".") expect(ignored.some((p) => source.replace(/\/$/, "") === p || source.startsWith(`${p}/`)), source).toBe(false);
    }
    expect(existsSync(path.join(ROOT, "bin", "apiary.mjs"))).toBe(true);
  });

  it(".dockerignore keeps local builds, dependencies and git out of the context", () => {
    for (const entry of ["node_modules", "dist", ".git"]) expect(ignored).toContain(entry);
    // The build stage needs these: none may be ignored.
    for (const needed of ["src", "gen", "scripts", "proto", "package-lock.json", "tsconfig.json"]) expect(ignored).not.toContain(needed);
  });
});
