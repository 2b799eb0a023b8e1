import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { waitFor } from "../helpers/wait.js";
import { APIARY_BIN, ApiaryProcess, runApiary } from "./helpers/apiary-process.js";

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const PRETTY_LINE = /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR|DEBUG) \(queen\): /;

function lines(text: string): string[] {
  return text.split(/\r?\n/).filter((l) => l.trim() !== "");
}

function isJson(line: string): boolean {
  try {
    return typeof JSON.parse(line) === "object";
  } catch {
    return false;
  }
}

// Every wait is for the startup line: the signal handlers are installed in the same tick.

/** `apiary queen` on a real pseudo-terminal (util-linux script); output is what the terminal showed. */
function queenOnTerminal(env: NodeJS.ProcessEnv = {}) {
  const { APIARY_LOG_FORMAT: _inherited, ...base } = process.env;
  const child = spawn("script", ["-qfec", `exec ${process.execPath} ${APIARY_BIN} queen --port 0`, "/dev/null"], {
    env: { ...base, APIARY_LOG_LEVEL: "info", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    output: () => output,
    exited,
    /** The queen: script's only child (`exec` replaced the shell). */
    queenPid: () => waitFor(() => {
      try {
        const pid = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(" ")[0]);
        return pid > 0 && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("queen") ? pid : undefined;
      } catch {
        return undefined;
      }
    }, "the queen under script"),
    kill: () => child.kill("SIGKILL"),
  };
}

describe("daemon log format", () => {
  it("is pretty and coloured on a terminal, and keeps the shutdown lines", async () => {
    const q = queenOnTerminal();
    try {
      await waitFor(() => q.output().includes("apiary queen listening on") || undefined, "the queen's startup line", 20_000);
      process.kill(await q.queenPid(), "SIGTERM");
      expect(await q.exited).toBe(0);
      const out = q.output();
      expect(out).toMatch(ANSI);
      const shown = lines(out.replace(ANSI, ""));
      const logLines = shown.filter((l) => l.startsWith("["));
      expect(logLines.length).toBeGreaterThanOrEqual(4);
      for (const l of logLines) expect(l).toMatch(PRETTY_LINE);
      expect(shown.some(isJson)).toBe(false);
      expect(logLines.some((l) => /INFO \(queen\): queen listening/.test(l))).toBe(true);
      expect(logLines.at(-1)).toMatch(/INFO \(queen\): shutdown complete$/);
    } finally {
      q.kill();
    }
  });

  it("is one JSON object a line through a pipe, the last one written before exit", async () => {
    const queen = ApiaryProcess.start(["queen", "--port", "0"], { APIARY_LOG_FORMAT: "" });
    await queen.listeningUrl("queen");
    queen.signal("SIGTERM");
    expect((await queen.exited).code).toBe(0);
    const records = lines(queen.stdout).map((l) => JSON.parse(l) as { name: string; msg: string; level: number });
    expect(records.every((r) => r.name === "queen" && typeof r.level === "number")).toBe(true);
    expect(records.at(-1)?.msg).toBe("shutdown complete");
  });

  it("follows APIARY_LOG_FORMAT over the terminal test both ways", async () => {
    const onTerminal = queenOnTerminal({ APIARY_LOG_FORMAT: "json" });
    try {
      await waitFor(() => onTerminal.output().includes("apiary queen listening on") || undefined, "the queen's startup line", 20_000);
      process.kill(await onTerminal.queenPid(), "SIGTERM");
      expect(await onTerminal.exited).toBe(0);
      const logs = lines(onTerminal.output()).filter((l) => l.startsWith("{"));
      expect(logs.length).toBeGreaterThanOrEqual(4);
      expect(logs.every(isJson)).toBe(true);
    } finally {
      onTerminal.kill();
    }

    const piped = ApiaryProcess.start(["queen", "--port", "0"], { APIARY_LOG_FORMAT: "pretty" });
    await piped.listeningUrl("queen");
    piped.signal("SIGTERM");
    expect(await piped.exited, piped.stderr + piped.stdout).toEqual({ code: 0, signal: null });
    expect(piped.stdout).not.toMatch(ANSI);
    const shown = lines(piped.stdout);
    expect(shown.some(isJson)).toBe(false);
    const heads = shown.filter((l) => !l.startsWith(" "));
    for (const l of heads) expect(l).toMatch(PRETTY_LINE);
    expect(heads.at(-1)).toMatch(/shutdown complete$/);
  });

  it("refuses an unknown APIARY_LOG_FORMAT, naming it", async () => {
    const res = await runApiary(["queen", "--port", "0"], { APIARY_LOG_FORMAT: "xml" });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('apiary queen: APIARY_LOG_FORMAT: expected json or pretty, got "xml"');
  });
});
