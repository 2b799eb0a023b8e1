import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { UntypedFlags } from "../../src/cli/command.js";
import { packagePath } from "../../src/common/package-root.js";
import { queenCommand } from "../../src/cli/commands/queen.js";
import { hiveCommand } from "../../src/cli/commands/hive.js";
import { upCommand } from "../../src/cli/commands/up.js";
import { routeCommand } from "../../src/cli/commands/route.js";
import { certsCommand } from "../../src/cli/commands/certs.js";
import { configCommand } from "../../src/cli/commands/config.js";

/**
 * Every command reads its flags typed from its own table (defineFlags/defineCommand), so a flag
 * renamed in a table or read under a wrong name fails to compile. A cast such as
 * `flags["log-level"] as string` would hide exactly that; a table annotated `FlagSpec[]` widens
 * its names to string and makes every read of it untyped.
 */
const CLI_SOURCES = [packagePath("src", "cli.ts"), ...filesUnder(packagePath("src", "cli"))];
const FLAG_CAST = /\bflags(?:\[[^\]]*\]|\.[\w$]+)\)?\s+as\s/;
const WIDENED_TABLE = /:\s*(?:readonly\s+)?FlagSpec\[\]\s*=/;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []));
}

/** "file:line: text" of each line of the CLI's sources that matches. */
function linesMatching(pattern: RegExp): string[] {
  return CLI_SOURCES.flatMap((file) =>
    readFileSync(file, "utf8")
      .split("\n")
      .flatMap((line, i) => (pattern.test(line) ? [`${path.relative(packagePath(), file)}:${i + 1}: ${line.trim()}`] : [])),
  );
}

describe("typed flags", () => {
  it("no flag value is cast in src/cli (flags[...] as T, flags.x as T)", () => {
    expect(linesMatching(FLAG_CAST)).toEqual([]);
  });

  it("no flag table is annotated FlagSpec[] (it would erase the flag names)", () => {
    expect(linesMatching(WIDENED_TABLE)).toEqual([]);
  });

  it("the patterns catch the shapes they forbid", () => {
    expect(FLAG_CAST.test(`const level = flags["log-level"] as string;`)).toBe(true);
    expect(FLAG_CAST.test(`intFlag("port", (flags.port as string), 0, 65535)`)).toBe(true);
    expect(FLAG_CAST.test(`const level = flags["log-level"];`)).toBe(false);
    expect(WIDENED_TABLE.test(`export const hiveRuntimeFlags: FlagSpec[] = [`)).toBe(true);
    expect(WIDENED_TABLE.test(`export const hiveRuntimeFlags = defineFlags([`)).toBe(false);
  });

  it("the server and admin commands see typed flags, not an untyped record", () => {
    type FlagsOf<C extends { run(args: { flags: unknown }): unknown }> = Parameters<C["run"]>[0]["flags"];
    expectTypeOf<FlagsOf<typeof queenCommand>>().not.toEqualTypeOf<UntypedFlags>();
    expectTypeOf<FlagsOf<typeof queenCommand>["log-level"]>().toEqualTypeOf<string>();
    expectTypeOf<FlagsOf<typeof hiveCommand>["label"]>().toEqualTypeOf<string[]>();
    expectTypeOf<FlagsOf<typeof upCommand>["fake-gpus"]>().toEqualTypeOf<string | undefined>();
    expectTypeOf<FlagsOf<typeof routeCommand>["prefix-affinity"]>().toEqualTypeOf<boolean>();
    expectTypeOf<FlagsOf<typeof certsCommand>["dns"]>().toEqualTypeOf<string[]>();
    expectTypeOf<FlagsOf<typeof configCommand>["request-timeout"]>().toEqualTypeOf<string | undefined>();
  });
});
