import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { SpawnWorkerRequestSchema } from "../../../gen/apiary/v1/hive_pb.js";
import { validateSpawnRequest } from "../../../src/hive/workers/validate-spawn-request.js";
import { EnvAllowList } from "../../../src/hive/workers/worker-env.js";

const spawn = (env: Record<string, string>, allow?: EnvAllowList) =>
  validateSpawnRequest(create(SpawnWorkerRequestSchema, { argv: ["/bin/true"], env }), allow);

describe("worker environment by allow-list (attack: code execution under an allowed program through env)", () => {
  it("refuses each loader, shell and interpreter hook, naming the variable, even when a glob admits everything", () => {
    const everything = new EnvAllowList(["*"]);
    const attacks = ["LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH", "BASH_ENV", "ENV", "BASH_FUNC_x%%", "SHELLOPTS", "PS4", "PYTHONWARNINGS", "PYTHONSTARTUP", "PYTHONPATH", "BROWSER", "NODE_OPTIONS", "PERL5OPT", "PERL5LIB", "RUBYOPT", "RUBYLIB", "GCONV_PATH", "GLIBC_TUNABLES", "CUDA_INJECTION64_PATH"];
    for (const name of attacks) {
      expect(() => spawn({ [name]: "/tmp/evil" }, everything), name).toThrow(`env[${name}]: refused`);
      expect(() => spawn({ [name]: "/tmp/evil" }), name).toThrow(`[invalid_argument] env[${name}]`);
    }
  });

  it("refuses what the hive sets and what --allow-env does not admit; passes what it admits", () => {
    expect(() => spawn({ CUDA_VISIBLE_DEVICES: "0" })).toThrow("env[CUDA_VISIBLE_DEVICES]: set by the hive");
    expect(() => spawn({ PATH: "/tmp" })).toThrow("env[PATH]: set by the hive");
    expect(() => spawn({ SOME_VAR: "1" })).toThrow("env[SOME_VAR]: not admitted");
    expect(spawn({ HF_HOME: "/data/hf", OMP_NUM_THREADS: "4", NCCL_DEBUG: "INFO" }).env).toEqual({ HF_HOME: "/data/hf", OMP_NUM_THREADS: "4", NCCL_DEBUG: "INFO" });
    expect(spawn({ MY_FLAG: "1" }, new EnvAllowList(["MY_*"])).env).toEqual({ MY_FLAG: "1" });
  });
});
