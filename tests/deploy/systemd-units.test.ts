import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { PACKAGE_ROOT } from "../../src/common/package-root.js";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = PACKAGE_ROOT + path.sep;
const UNITS = ["apiary-queen.service", "apiary-hive.service"];

/** The units as installed from this checkout: /opt/apiary/ is where the install in docs/operations.md puts it. */
const dir = mkdtempSync(path.join(os.tmpdir(), "apiary-units-"));
for (const unit of UNITS) {
  const text = readFileSync(path.join(ROOT, "deploy", "systemd", unit), "utf8");
  writeFileSync(path.join(dir, unit), text.replaceAll("/opt/apiary/", ROOT));
}
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** systemd-analyze's exit status and everything it printed (it warns on stderr and exits 0). */
async function analyze(args: string[]) {
  try {
    const { stdout, stderr } = await run("systemd-analyze", args, { cwd: dir });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

/** The [Service] settings of a unit, key → values in order. */
function settings(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of readFileSync(path.join(ROOT, "deploy", "systemd", unit), "utf8").split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1], [...(out.get(m[1]) ?? []), m[2]]);
  }
  return out;
}

describe("systemd units", () => {
  it("pass systemd-analyze verify without a single warning", async () => {
    const res = await analyze(["verify", "--man=no", ...UNITS]);
    expect(res.output).toBe("");
    expect(res.code).toBe(0);
  });

  it("verify does report a broken unit here (the check above is not a no-op)", async () => {
    const broken = readFileSync(path.join(dir, "apiary-queen.service"), "utf8").replace("ProtectHome=yes", "ProtectHome=yes\nProtectHomee=yes");
    writeFileSync(path.join(dir, "broken.service"), broken);
    const res = await analyze(["verify", "--man=no", "broken.service"]);
    expect(res.output).toMatch(/Unknown key 'ProtectHomee'|Unknown key name 'ProtectHomee'/);
  });

  it("are hardened: systemd-analyze security (its threshold is in tenths) rates the queen at most 2.0 and the hive at most 4.0", async () => {
    for (const [unit, threshold] of [["apiary-queen.service", 2], ["apiary-hive.service", 4]] as const) {
      const res = await analyze(["security", "--offline=yes", `--threshold=${threshold * 10}`, unit]);
      const level = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(res.output)?.[1]);
      expect(level, res.output).toBeLessThanOrEqual(threshold);
      expect(res.code).toBe(0);
    }
  });

  it("give the queen a dedicated user and no capabilities, the hive delegation and its devices", () => {
    const queen = settings("apiary-queen.service");
    expect(queen.get("User")).toEqual(["apiary"]);
    expect(queen.get("CapabilityBoundingSet")).toEqual([""]);
    expect(queen.get("EnvironmentFile")).toEqual(["/etc/apiary/queen.env"]);
    const hive = settings("apiary-hive.service");
    expect(hive.get("Delegate")).toEqual(["yes"]);
    expect(hive.get("PrivateDevices")).toBeUndefined();
    expect(hive.get("ProtectControlGroups")).toBeUndefined();
    expect(hive.get("ReadWritePaths")).toEqual(["/var/lib/apiary/hive"]);
    expect(hive.get("KillMode")).toEqual(["process"]);
    expect(hive.get("EnvironmentFile")).toEqual(["/etc/apiary/hive.env"]);
    for (const unit of [queen, hive]) {
      for (const key of ["NoNewPrivileges", "ProtectHome", "PrivateTmp"]) expect(unit.get(key)).toEqual(["yes"]);
      expect(unit.get("ProtectSystem")).toEqual(["strict"]);
      expect(unit.get("SystemCallFilter")?.[0]).toBe("@system-service");
      expect(unit.get("RestrictAddressFamilies")?.[0]).toMatch(/^AF_INET AF_INET6 AF_UNIX/);
    }
  });
});
