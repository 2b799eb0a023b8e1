import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { PACKAGE_ROOT } from "../../src/common/package-root.js";
import { afterEach, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = PACKAGE_ROOT;
const WRAPPER = path.join(ROOT, "deploy", "systemd", "apiary-hive-exec");

describe("deploy/systemd/apiary-hive-exec (the hive unit's ExecStart)", () => {
  let dir = "";
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A fake cgroup tree, /proc/self/cgroup and node: the fake node prints what it was started with. */
  function setup(selfCgroup: string, v2: boolean) {
    dir = mkdtempSync(path.join(os.tmpdir(), "apiary-hive-exec-"));
    const root = path.join(dir, "cgroup");
    mkdirSync(path.join(root, "system.slice", "apiary-hive.service"), { recursive: true });
    if (v2) writeFileSync(path.join(root, "cgroup.controllers"), "cpu memory pids io\n");
    writeFileSync(path.join(dir, "self-cgroup"), selfCgroup);
    const fakeNode = path.join(dir, "node");
    writeFileSync(fakeNode, '#!/bin/sh\necho "pid=$$ parent=${APIARY_CGROUP_PARENT:-} args=$*"\n');
    chmodSync(fakeNode, 0o755);
    return { root, env: { ...process.env, APIARY_CGROUP_ROOT: root, APIARY_SELF_CGROUP: path.join(dir, "self-cgroup"), APIARY_NODE: fakeNode } };
  }

  it("cgroup v2: moves itself into the leaf <service>/hive and puts workers under <service>/workers", async () => {
    const { root, env } = setup("0::/system.slice/apiary-hive.service\n", true);
    const { stdout } = await run(WRAPPER, ["--id", "gpu-node-1"], { env: { ...env, APIARY_CGROUP_PARENT: "" } });
    const m = /^pid=(\d+) parent=(\S+) args=(.*)$/.exec(stdout.trim());
    expect(m?.[2]).toBe("system.slice/apiary-hive.service/workers");
    expect(m?.[3]).toBe(`${path.join(ROOT, "bin", "apiary.mjs")} hive --id gpu-node-1`);
    // exec keeps the pid: the process that joined the leaf is the hive itself.
    expect(readFileSync(path.join(root, "system.slice", "apiary-hive.service", "hive", "cgroup.procs"), "utf8").trim()).toBe(m?.[1]);
  });

  it("cgroup v1: the service's path from the name=systemd hierarchy, no leaf to move into", async () => {
    const { root, env } = setup("12:memory:/system.slice/apiary-hive.service\n1:name=systemd:/system.slice/apiary-hive.service\n", false);
    const { stdout } = await run(WRAPPER, [], { env: { ...env, APIARY_CGROUP_PARENT: "" } });
    expect(stdout).toMatch(/ parent=system\.slice\/apiary-hive\.service\/workers args=\S+apiary\.mjs hive$/m);
    expect(() => readFileSync(path.join(root, "system.slice", "apiary-hive.service", "hive", "cgroup.procs"))).toThrow();
  });

  it("leaves an APIARY_CGROUP_PARENT from hive.env alone", async () => {
    const { env } = setup("0::/system.slice/apiary-hive.service\n", true);
    const { stdout } = await run(WRAPPER, [], { env: { ...env, APIARY_CGROUP_PARENT: "apiary/custom" } });
    expect(stdout).toMatch(/ parent=apiary\/custom /);
  });
});
