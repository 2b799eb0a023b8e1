import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromJsonString } from "@bufbuild/protobuf";
import { ListHivesResponseSchema } from "../../gen/apiary/v1/queen_pb.js";
import { ApiaryProcess, runApiary } from "./helpers/apiary-process.js";

describe("apiary command line", () => {
  let queen: ApiaryProcess;
  let queenUrl: string;

  beforeAll(async () => {
    queen = ApiaryProcess.start(["queen", "--port", "0"]);
    queenUrl = await queen.listeningUrl("queen");
  });
  afterAll(async () => {
    await queen?.stop();
  });

  it("says where the queen listens and in which registry mode", () => {
    expect(queen.stderr).toMatch(/apiary queen listening on http:\/\/127\.0\.0\.1:\d+ \(registry: in-memory, 16 shards; epoch \S+\)/);
  });

  it("explains every flag with its environment variable in --help", async () => {
    const help = await runApiary(["hive", "--help"]);
    expect(help.code).toBe(0);
    for (const flag of ["--queen ADDR", "--nvidia-smi PATH", "--cgroup-root DIR", "--state-dir DIR", "--label K=V", "--id NAME"]) {
      expect(help.stdout).toContain(flag);
    }
    expect(help.stdout).toContain("[env: APIARY_NVIDIA_SMI]");
    const main = await runApiary(["--help"]);
    for (const cmd of ["up", "queen", "hive", "workers", "devices", "hives", "watch", "top", "spawn", "stop"]) {
      expect(main.stdout).toMatch(new RegExp(`^  ${cmd}\\s`, "m"));
    }
  });

  it("answers in tables and in proto JSON", async () => {
    const table = await runApiary(["hives", "--queen", queenUrl]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^HIVE\s+HEALTH\s+LAST SEEN/m);
    const json = await runApiary(["hives", "--json"], { APIARY_QUEEN: queenUrl });
    expect(json.code).toBe(0);
    expect(fromJsonString(ListHivesResponseSchema, json.stdout).hives).toEqual([]);
  });

  it("names the unreachable address, the bad flag and the bad value, in one line with a non-zero exit", async () => {
    const unreachable = await runApiary(["workers", "--queen", "127.0.0.1:1"]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr.trim()).toMatch(/^apiary: cannot reach the queen at http:\/\/127\.0\.0\.1:1: /);
    expect(unreachable.stderr.trim().split("\n")).toHaveLength(1);

    const badFlag = await runApiary(["workers", "--modle", "x"]);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain("unknown flag '--modle'");

    const badSize = await runApiary(["workers", "--min-free-vram", "lots", "--queen", queenUrl]);
    expect(badSize.code).toBe(2);
    expect(badSize.stderr).toContain("--min-free-vram lots");

    const badCommand = await runApiary(["stings"]);
    expect(badCommand.code).toBe(2);
    expect(badCommand.stderr).toContain("unknown command stings");
  });
});
