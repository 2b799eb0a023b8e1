import { chmodSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runWithDeadline, type RunResult } from "../../../src/hive/gpu/run-with-deadline.js";
import { groupMembers, tempDir, writeScript } from "./process-helpers.js";
import { isAlive } from "../../helpers/processes.js";
import { waitUntil } from "../../helpers/wait.js";

const dir = tempDir("apiary-run-deadline-");
const leftovers: number[] = [];

afterAll(() => {
  for (const pgid of leftovers) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone, as it should be
    }
  }
});

async function expectGroupGone(result: RunResult, extraPids: number[] = []): Promise<void> {
  expect(result.pid).toBeTypeOf("number");
  const pgid = result.pid!;
  leftovers.push(pgid);
  await waitUntil(() => !isAlive(pgid) && extraPids.every((p) => !isAlive(p)), "the processes to be gone", 5000);
  await waitUntil(() => groupMembers(pgid).length === 0, "the processes to be gone", 5000);
}

function firstNumber(text: string): number {
  const m = /(\d+)/.exec(text);
  if (!m) throw new Error(`no pid in output: ${JSON.stringify(text)}`);
  return Number(m[1]);
}

describe("runWithDeadline", () => {
  it("kills a command that hangs at the deadline and leaves no process behind", async () => {
    const script = writeScript(dir, "hang.sh", "echo $$\nsleep 1000\necho never");
    const result = await runWithDeadline(script, [], { deadlineMs: 300, killGraceMs: 300 });
    expect(result.kind).toBe("timeout");
    expect(result.stdout).not.toContain("never");
    expect(firstNumber(result.stdout)).toBe(result.pid);
    await expectGroupGone(result);
  });

  it("SIGKILLs a command that ignores SIGTERM, with its children", async () => {
    const script = writeScript(dir, "ignore-term.sh", "trap '' TERM\nsleep 1000 &\necho $!\nwait");
    const result = await runWithDeadline(script, [], { deadlineMs: 300, killGraceMs: 200 });
    expect(result.kind).toBe("timeout");
    expect(result.signal).toBe("SIGKILL");
    await expectGroupGone(result, [firstNumber(result.stdout)]);
  });

  it("settles when a grandchild keeps stdout open after the command exited, and kills the grandchild", async () => {
    const script = writeScript(dir, "grandchild.sh", "sleep 1000 &\necho $!\nexit 0");
    const result = await runWithDeadline(script, [], { deadlineMs: 300, killGraceMs: 200 });
    expect(result.kind).toBe("timeout");
    expect(result.exitCode).toBe(0);
    const grandchild = firstNumber(result.stdout);
    await expectGroupGone(result, [grandchild]);
  });

  it("settles when a grandchild ignores SIGTERM and holds stdout", async () => {
    const script = writeScript(dir, "stubborn-grandchild.sh", "(trap '' TERM; exec sleep 1000) &\necho $!\nsleep 1000");
    const result = await runWithDeadline(script, [], { deadlineMs: 300, killGraceMs: 200 });
    expect(result.kind).toBe("timeout");
    await expectGroupGone(result, [firstNumber(result.stdout)]);
  });

  it("returns ok for a slow command that finishes within its deadline", async () => {
    const script = writeScript(dir, "slow.sh", "sleep 0.2\necho done");
    const result = await runWithDeadline(script, [], { deadlineMs: 20_000 });
    expect(result).toMatchObject({ kind: "ok", exitCode: 0, stdout: "done\n" });
  });

  it("reports a non-zero exit with its output", async () => {
    const script = writeScript(dir, "fail.sh", "echo partial\necho broken >&2\nexit 3");
    const result = await runWithDeadline(script, [], { deadlineMs: 20_000 });
    expect(result).toMatchObject({ kind: "exit-error", exitCode: 3, stdout: "partial\n", stderr: "broken\n" });
  });

  it("reports a missing binary as not-found", async () => {
    const result = await runWithDeadline(path.join(dir, "no-such-binary"), [], { deadlineMs: 1000 });
    expect(result.kind).toBe("not-found");
    expect(result.pid).toBeUndefined();
  });

  it("reports a file that is not executable as spawn-error", async () => {
    const file = path.join(dir, "not-executable");
    writeFileSync(file, "#!/bin/sh\necho hi\n");
    chmodSync(file, 0o644);
    const result = await runWithDeadline(file, [], { deadlineMs: 1000 });
    expect(result.kind).toBe("spawn-error");
    expect(result.errorMessage).toMatch(/EACCES/);
  });

  it("bounds the output it keeps and still lets the command finish", async () => {
    const script = writeScript(dir, "loud.sh", "head -c 3000000 /dev/zero | tr '\\0' x\necho end >&2");
    const result = await runWithDeadline(script, [], { deadlineMs: 20_000, maxOutputBytes: 1000 });
    expect(result.kind).toBe("ok");
    expect(result.truncated).toBe(true);
    expect(result.stdout).toHaveLength(1000);
    expect(result.stderr).toBe("end\n");
  });
});
