import { describe, expect, it } from "vitest";
import { hiveRuntime, hiveRuntimeFlags } from "../../src/cli/hive-flags.js";
import { parseFlags } from "../../src/cli/parse-flags.js";

const runtime = (argv: string[]) => hiveRuntime(parseFlags("hive", hiveRuntimeFlags, argv, {}).flags);

describe("GPU health flags of the hive", () => {
  it("--gpu-health-ignore-xid 13,31 and --kmsg-path reach the hive config", () => {
    const config = runtime(["--gpu-health-ignore-xid", "13, 31", "--kmsg-path", "/tmp/fake-kmsg"]);
    expect(config).toMatchObject({ gpuHealthIgnoreXids: [13, 31], kmsgPath: "/tmp/fake-kmsg", gpuXidHoldMs: 600_000 });
  });
  it("unset: nothing ignored", () => {
    expect(runtime([]).gpuHealthIgnoreXids).toEqual([]);
  });
  it("a code that is not a number is a usage error naming the flag", () => {
    expect(() => runtime(["--gpu-health-ignore-xid", "13,abc"])).toThrow(/--gpu-health-ignore-xid abc/);
  });
});
