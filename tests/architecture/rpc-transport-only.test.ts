import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { packagePath } from "../../src/common/package-root.js";

/**
 * src/rpc is transport only (issue 21): which apiary method needs which permission, and what a
 * Heartbeat hello must say, are handed in by the queen and the hive. A method name or an apiary
 * generated schema in src/rpc would put the policy back into the transport.
 */
const RPC = packagePath("src", "rpc");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []));
}

/** Each line of src/rpc code (comments aside) that names an apiary.v1 method or service, or imports apiary's generated code. */
function apiaryReferences(root: string): string[] {
  const found: string[] = [];
  for (const file of sourceFiles(root)) {
    readFileSync(file, "utf8").split("\n").forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, "").replace(/^\s*\*.*$/, "").replace(/\/\*.*?\*\//g, "");
      if (/apiary\.v1\.|gen\/apiary\/|\b(?:Queen|QueenPeer|Hive)Service\b/.test(code)) found.push(`${path.relative(root, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  return found;
}

describe("src/rpc", () => {
  it("names no apiary method or service and imports none of apiary's generated schemas", () => {
    expect(apiaryReferences(RPC)).toEqual([]);
  });

  it("finds such a name in code, not in comments (the old policy table would fail it)", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "apiary-rpc-arch-"));
    writeFileSync(
      path.join(dir, "policy.ts"),
      `// apiary.v1.QueenService in a comment is fine\nconst METHODS = {\n  "apiary.v1.QueenService/Heartbeat": "hive",\n};\nimport type { HeartbeatRequest } from "../../../gen/apiary/v1/queen_pb.js";\n`,
    );
    expect(apiaryReferences(dir).map((hit) => hit.split(":")[1])).toEqual(["3", "5"]);
  });
});
