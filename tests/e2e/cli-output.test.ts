import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromJson, fromJsonString } from "@bufbuild/protobuf";
import { parse as parseYaml } from "yaml";
import { FindDevicesResponseSchema, FindWorkersResponseSchema } from "../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import { waitUntil } from "../helpers/wait.js";
import { APIARY_BIN, runApiary } from "./helpers/apiary-process.js";
import { Cluster, DEMO_WORKER } from "./helpers/cluster.js";

/** `-o` formats, label selectors, hive ids and GPU indexes, end to end on a real queen, hive and workers. */
/** Each test runs several `apiary` processes: seconds each on a loaded 2-core machine. */
const SLOW = 300_000;

describe("apiary listings and worker commands", () => {
  const cluster = new Cluster();
  let q: string[];
  const id = (name: string) => `${name}-${process.pid}`;
  const demo = (model: string) => ["--", process.execPath, DEMO_WORKER, "--model", model, "--cpu", "0.05", "--memory", "16MiB"];

  beforeAll(async () => {
    await cluster.startQueen();
    await cluster.startHive();
    q = ["--queen", cluster.queenUrl];
    await waitUntil(async () => (await cluster.queenClient.findDevices({})).matches.length === 2, "the hive's two GPUs at the queen", 30_000);
  });
  afterAll(() => cluster.cleanup());

  it("spawns by hive id with a GPU index, labels workers, selects them with -l apart from --hive-label", async () => {
    const one = await runApiary(["spawn", ...q, "--hive", cluster.hiveId, "--id", id("x"), "--gpus", "1", "-l", "team=x", ...demo("m-x")]);
    expect(one.stderr).toBe("");
    expect(one.code).toBe(0);
    const devices = await cluster.queenClient.findDevices({});
    const gpu1 = devices.matches.find((m) => m.device?.index === 1)!.device!.uuid;
    expect(one.stdout).toContain(`started ${id("x")} on ${cluster.hiveId}`);
    expect(one.stdout).toContain(`GPUs ${gpu1}`);
    // Only one hive: no --hive needed; a UUID works as well as an index.
    const two = await runApiary(["spawn", ...q, "--id", id("y"), "--gpus", gpu1, "--label", "team=y", "-o", "name", ...demo("m-y")]);
    expect(two.stdout).toBe(`worker/${cluster.hiveId}/${id("y")}\n`);
    const direct = await runApiary(["spawn", "--hive-addr", cluster.hiveUrl, "--id", id("z"), ...demo("m-z")]);
    expect(direct.code).toBe(0);

    await waitUntil(async () => (await cluster.queenClient.findWorkers({})).matches.length === 3, "three running workers", 20_000);
    const x = await runApiary(["workers", ...q, "-l", "team=x", "-o", "json"]);
    const xRes = fromJsonString(FindWorkersResponseSchema, x.stdout);
    expect(xRes.matches.map((m) => m.worker?.workerId)).toEqual([id("x")]);
    expect(xRes.matches[0].worker?.gpuUuids).toEqual([gpu1]);
    const hiveLabel = await runApiary(["workers", ...q, "--hive-label", "suite=e2e", "-o", "name"]);
    expect(hiveLabel.stdout.trim().split("\n").sort()).toEqual([id("x"), id("y"), id("z")].map((w) => `worker/${cluster.hiveId}/${w}`));
    const none = await runApiary(["workers", ...q, "--label", "suite=e2e"]);
    expect(none.stdout).toMatch(/^0 of 0 matching workers, revision \d+$/m);
  }, SLOW);

  it("rejects an unknown GPU index with INVALID_ARGUMENT naming the field, and an unknown hive id", async () => {
    const bad = await runApiary(["spawn", ...q, "--hive", cluster.hiveId, "--gpus", "7", ...demo("m")]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^apiary: hive at http:\/\/\S+ answered InvalidArgument: gpu_uuids\[0\]: no GPU index 7 on this hive/);
    const unknown = await runApiary(["spawn", ...q, "--hive", "no-such-hive", ...demo("m")]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("knows no hive no-such-hive");
  }, SLOW);

  it("prints every field in -o json and -o yaml (GPU 0 has its index), names in -o name, more columns in -o wide", async () => {
    const json = await runApiary(["devices", ...q, "-o", "json"]);
    const raw = JSON.parse(json.stdout) as { matches: { device: { index?: number } }[] };
    expect(raw.matches.map((m) => m.device.index).sort()).toEqual([0, 1]);
    const yaml = await runApiary(["devices", ...q, "-o", "yaml"]);
    const fromYaml = fromJson(FindDevicesResponseSchema, parseYaml(yaml.stdout));
    expect(fromYaml.matches.map((m) => m.device?.uuid)).toEqual(fromJsonString(FindDevicesResponseSchema, json.stdout).matches.map((m) => m.device?.uuid));
    const alias = await runApiary(["devices", ...q, "--json"]);
    expect(JSON.parse(alias.stdout).matches).toHaveLength(2);

    const names = await runApiary(["devices", ...q, "-o", "name"]);
    expect(names.stdout).toMatch(new RegExp(`^gpu/${cluster.hiveId}/GPU-\\S+\\n`));
    expect((await runApiary(["hives", ...q, "-o", "name"])).stdout).toBe(`hive/${cluster.hiveId}\n`);

    const table = await runApiary(["workers", ...q]);
    const wide = await runApiary(["workers", ...q, "-o", "wide"]);
    expect(table.stdout).not.toMatch(/LABELS/);
    expect(wide.stdout).toMatch(/^HIVE .* LABELS\s+GPU UUIDS\s+ENDPOINT$/m);
    expect(wide.stdout).toMatch(new RegExp(`${id("x")} .*team=x\\s+GPU-\\S+\\s+${cluster.hiveUrl.replace(/[.]/g, "\\.")}`));
    const hivesWide = await runApiary(["hives", ...q, "-o", "wide"]);
    expect(hivesWide.stdout).toMatch(/HOSTNAME\s+GPU UUIDS/);
    expect(hivesWide.stdout).toMatch(/^1 hive, revision \d+$/m);

    const badFormat = await runApiary(["workers", ...q, "-o", "xml"]);
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr.trim()).toBe("apiary workers: -o xml: expected one of table, wide, json, yaml, name");
  }, SLOW);

  it("stops a worker by the name -o name printed; the queen is asked where it runs", async () => {
    const stop = await runApiary(["stop", ...q, `worker/${cluster.hiveId}/${id("x")}`, "--grace", "2s"]);
    expect(stop.stderr).toBe("");
    expect(stop.stdout).toMatch(new RegExp(`^stopped ${id("x")} on ${cluster.hiveId}: `));
    const byId = await runApiary(["stop", ...q, id("y"), "--grace", "2s"]);
    expect(byId.stdout).toMatch(new RegExp(`^stopped ${id("y")} on ${cluster.hiveId}: `));
    const direct = await runApiary(["stop", "--hive-addr", cluster.hiveUrl, id("z"), "--grace", "2s"]);
    expect(direct.stdout).toMatch(new RegExp(`^stopped ${id("z")}: `));
    const listed = await cluster.hiveClient.listWorkers({});
    for (const w of listed.workers.filter((w) => w.workerId.endsWith(`-${process.pid}`))) expect(w.state).not.toBe(WorkerState.RUNNING);
  }, SLOW);

  it("says a hive is not a queen and a queen is not a hive", async () => {
    const atHive = await runApiary(["workers", "--queen", cluster.hiveUrl]);
    expect(atHive.code).toBe(1);
    expect(atHive.stderr.trim()).toBe(`apiary: ${cluster.hiveUrl} is a hive, not a queen (a queen listens on port 7833 by default)`);
    const watchAtHive = await runApiary(["watch", "--queen", cluster.hiveUrl]);
    expect(watchAtHive.stderr.trim()).toBe(`apiary: ${cluster.hiveUrl} is a hive, not a queen (a queen listens on port 7833 by default)`);
    const atQueen = await runApiary(["spawn", "--hive-addr", cluster.queenUrl, "--", "true"]);
    expect(atQueen.stderr.trim()).toBe(`apiary: ${cluster.queenUrl} is a queen, not a hive (a hive listens on port 7835 by default)`);
  }, SLOW);

  it("top --once prints one frame and exits; watch | head -1 exits quietly", async () => {
    const top = await runApiary(["top", "--once", ...q]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^apiary top — 1 hive, /);
    const piped = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const sh = spawn("sh", ["-c", `"${process.execPath}" "${APIARY_BIN}" watch --queen ${cluster.queenUrl} | head -1; echo "status=$?"`]);
      let stdout = "";
      let stderr = "";
      sh.stdout.on("data", (d: Buffer) => (stdout += d));
      sh.stderr.on("data", (d: Buffer) => (stderr += d));
      sh.once("exit", (code) => resolve({ code, stdout, stderr }));
    });
    expect(piped.stdout).toMatch(new RegExp(`^\\s+\\d+  hive    ADDED    ${cluster.hiveId} `));
    expect(piped.stderr).toBe("");
  }, SLOW);

  it("prints a command's help for `apiary help CMD` and names the command in a bad value", async () => {
    const help = await runApiary(["help", "workers"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: apiary workers /);
    const limit = await runApiary(["workers", ...q, "--limit", "abc"]);
    expect(limit.code).toBe(2);
    expect(limit.stderr.trim()).toBe("apiary workers: --limit abc: expected a whole number from 0 to 1000");
  }, SLOW);
});
