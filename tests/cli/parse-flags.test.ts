import { describe, expect, expectTypeOf, it } from "vitest";
import { parseFlags } from "../../src/cli/parse-flags.js";
import { UsageError, defineFlags, type FlagSpec } from "../../src/cli/command.js";
import { parseKeyValues, sizeFlag, coresFlag, intFlag } from "../../src/cli/parse-values.js";

const specs: FlagSpec[] = [
  { name: "queen", type: "string", env: "APIARY_QUEEN", default: "http://127.0.0.1:7833", help: "" },
  { name: "json", type: "boolean", help: "" },
  { name: "label", type: "string", multiple: true, help: "" },
];

describe("parseFlags", () => {
  it("prefers the command line, then the environment, then the default", () => {
    expect(parseFlags("x", specs, ["--queen", "h:1"], { APIARY_QUEEN: "h:2" }).flags.queen).toBe("h:1");
    expect(parseFlags("x", specs, [], { APIARY_QUEEN: "h:2" }).flags.queen).toBe("h:2");
    expect(parseFlags("x", specs, [], {}).flags.queen).toBe("http://127.0.0.1:7833");
  });

  it("keeps repeated flags and everything after --", () => {
    const parsed = parseFlags("spawn", specs, ["--label", "a=1", "--label", "b=2", "--", "python", "--json"], {});
    expect(parsed.flags.label).toEqual(["a=1", "b=2"]);
    expect(parsed.flags.json).toBe(false);
    expect(parsed.rest).toEqual(["python", "--json"]);
  });

  it("yields an object typed from a defineFlags table: no casts in the commands", () => {
    const table = defineFlags([
      { name: "queen", type: "string", default: "127.0.0.1:7833", help: "" },
      { name: "limit", type: "string", help: "" },
      { name: "json", type: "boolean", help: "" },
      { name: "label", type: "string", multiple: true, help: "" },
    ]);
    const { flags } = parseFlags("x", table, ["--limit", "3", "--label", "a=1"], {});
    expectTypeOf(flags.queen).toEqualTypeOf<string>();
    expectTypeOf(flags.limit).toEqualTypeOf<string | undefined>();
    expectTypeOf(flags.json).toEqualTypeOf<boolean>();
    expectTypeOf(flags.label).toEqualTypeOf<string[]>();
    // @ts-expect-error a flag the table does not have
    expect(flags.nope).toBeUndefined();
    expect(flags).toEqual({ help: false, queen: "127.0.0.1:7833", limit: "3", json: false, label: ["a=1"] });
  });

  it("names an unknown flag", () => {
    expect(() => parseFlags("workers", specs, ["--modle", "x"], {})).toThrowError(/apiary workers: unknown flag '--modle'/);
  });
});

describe("flag values", () => {
  it("parses labels, sizes, cores and counts, naming the flag on bad input", () => {
    expect(parseKeyValues("label", ["zone=a", "gpu=h100"])).toEqual({ zone: "a", gpu: "h100" });
    expect(() => parseKeyValues("label", ["zone"])).toThrowError(/--label zone/);
    expect(sizeFlag("min-free-vram", "8GiB")).toBe(8n * 1024n ** 3n);
    expect(() => sizeFlag("min-free-vram", "eight")).toThrowError(UsageError);
    expect(coresFlag("cpu-max", "1.5")).toBe(1500);
    expect(() => coresFlag("cpu-max", "-1")).toThrowError(/--cpu-max -1/);
    expect(() => intFlag("limit", "10.5", 0, 1000)).toThrowError(/--limit 10.5/);
  });
});
