import { describe, expect, it } from "vitest";
import { hiveRuntime } from "../../src/cli/hive-flags.js";

const base = { help: false, "nvidia-smi": "nvidia-smi", "gpu-deadline": "2s", "cgroup-root": "/sys/fs/cgroup", "cgroup-mode": "auto", "tick-interval": "1s", "engine-scrape-deadline": "300ms", "worker-log-retention": "7d", "worker-log-max-files": "1000", "kmsg-path": "/dev/kmsg", "gpu-health-xid-hold": "10m" };

describe("GPU health flags of the hive", () => {
  it("--gpu-health-ignore-xid 13,31 and --kmsg-path reach the hive config", () => {
    const config = hiveRuntime({ ...base, "gpu-health-ignore-xid": "13, 31", "kmsg-path": "/tmp/fake-kmsg" });
    expect(config).toMatchObject({ gpuHealthIgnoreXids: [13, 31], kmsgPath: "/tmp/fake-kmsg", gpuXidHoldMs: 600_000 });
  });
  it("unset: nothing ignored", () => {
    expect(hiveRuntime(base).gpuHealthIgnoreXids).toEqual([]);
  });
  it("a code that is not a number is a usage error naming the flag", () => {
    expect(() => hiveRuntime({ ...base, "gpu-health-ignore-xid": "13,abc" })).toThrow(/--gpu-health-ignore-xid abc/);
  });
});
