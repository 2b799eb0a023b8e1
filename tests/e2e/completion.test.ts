import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { APIARY_BIN, runApiary } from "./helpers/apiary-process.js";

function bashComplete(words: string[]): string[] {
  const script = `source <("${process.execPath}" "${APIARY_BIN}" completion bash); COMP_WORDS=(${words.join(" ")}); COMP_CWORD=${words.length - 1}; _apiary; echo "\${COMPREPLY[@]}"`;
  return execFileSync("bash", ["-c", script], { encoding: "utf8" }).trim().split(/\s+/).filter(Boolean);
}

describe("apiary completion", () => {
  it("bash completes command names from the command table", () => {
    expect(bashComplete(["apiary", "wor"])).toEqual(["workers"]);
    expect(bashComplete(["apiary", "desc"])).toEqual(["describe"]);
  });

  it("bash completes a command's own flags", () => {
    expect(bashComplete(["apiary", "workers", "--mo"])).toEqual(["--model"]);
    expect(bashComplete(["apiary", "workers", "--"])).toContain("--queen");
    // a flag of another command is not offered
    expect(bashComplete(["apiary", "workers", "--hive-p"])).toEqual([]);
  });

  it("zsh script declares every command and is a compdef file", async () => {
    const out = await runApiary(["completion", "zsh"]);
    expect(out.code).toBe(0);
    expect(out.stdout.startsWith("#compdef apiary\n")).toBe(true);
    for (const name of ["workers", "describe", "logs", "up"]) expect(out.stdout).toMatch(new RegExp(`'${name}:`));
    expect(out.stdout).toContain("'--model[");
    expect(out.stdout).toContain("compdef _apiary apiary");
  });

  it("rejects an unknown shell with exit 2", async () => {
    const out = await runApiary(["completion", "fish"]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/bash or zsh/);
  });
});
