import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { commands } from "../../src/cli/commands/index.js";
import { cliReference } from "../../src/cli/cli-reference.js";
import { loadCommands } from "../../src/cli/command.js";

describe("docs/cli-reference.md", () => {
  it("is what `apiary help --markdown` generates from the command table (regenerate it when a flag changes)", async () => {
    const committed = readFileSync(new URL("../../docs/cli-reference.md", import.meta.url), "utf8");
    expect(committed).toBe(await cliReference(commands));
  });

  it("names every flag of every command", async () => {
    const text = await cliReference(commands);
    for (const command of await loadCommands(commands)) {
      expect(text).toContain(`## apiary ${command.name}`);
      for (const flag of command.flags) expect(text).toContain(`--${flag.name}`);
    }
  });
});

describe("docs/configuration.md", () => {
  it("copies no flag table of the reference (a row per flag drifts from it), and links to the reference", () => {
    const text = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
    const flagRows = text.split("\n").filter((line) => /^\|\s*`--[a-z]/.test(line));
    expect(flagRows).toEqual([]);
    expect(text).toContain("](cli-reference.md#apiary-");
  });
});

describe("the command table", () => {
  it("loads every command under its own name", async () => {
    for (const entry of commands) expect((await entry.load()).name).toBe(entry.name);
  });
});
