import os from "node:os";
import { describe, expect, it } from "vitest";
import { advertisedEndpoint, defaultStateDir, resolveHiveConfig } from "../../src/hive/hive-config.js";

describe("resolveHiveConfig", () => {
  it("fills the documented defaults", () => {
    const config = resolveHiveConfig({}, {});
    expect(config).toMatchObject({
      queenUrl: undefined,
      host: "127.0.0.1",
      port: 7835,
      hiveId: os.hostname(),
      nvidiaSmiPath: "nvidia-smi",
      cgroupMode: "auto",
      tickIntervalMs: 1000,
      reportIntervalMs: 1000,
      ackDeadlineMs: 5000,
    });
  });

  it("takes nvidia-smi and the cgroup root from the environment only when not configured", () => {
    const env = { APIARY_NVIDIA_SMI: "/opt/smi", APIARY_CGROUP_ROOT: "/tmp/cg" };
    expect(resolveHiveConfig({}, env)).toMatchObject({ nvidiaSmiPath: "/opt/smi", cgroupRoot: "/tmp/cg" });
    expect(resolveHiveConfig({ nvidiaSmiPath: "/x", cgroupRoot: "/y" }, env)).toMatchObject({ nvidiaSmiPath: "/x", cgroupRoot: "/y" });
  });

  it("normalizes the queen address", () => {
    expect(resolveHiveConfig({ queenUrl: "10.0.0.1:7833" }, {}).queenUrl).toBe("http://10.0.0.1:7833");
    expect(resolveHiveConfig({ queenUrl: "" }, {}).queenUrl).toBeUndefined();
    expect(resolveHiveConfig({ queenUrl: "" }, {}).queenUrls).toEqual([]);
  });

  it("takes several queens separated by commas", () => {
    const config = resolveHiveConfig({ queenUrl: "10.0.0.1:7833, 10.0.0.2:7833" }, {});
    expect(config.queenUrls).toEqual(["http://10.0.0.1:7833", "http://10.0.0.2:7833"]);
    expect(config.queenUrl).toBe("http://10.0.0.1:7833,http://10.0.0.2:7833");
    expect(() => resolveHiveConfig({ queenUrl: "a:1,,b:2" }, {})).toThrow(/empty entry/);
  });

  it("rejects bad values naming the field", () => {
    expect(() => resolveHiveConfig({ tickIntervalMs: 0 }, {})).toThrow(/tickIntervalMs/);
    expect(() => resolveHiveConfig({ port: 70_000 }, {})).toThrow(/port/);
    expect(() => resolveHiveConfig({ ackDeadlineMs: Number.NaN }, {})).toThrow(/ackDeadlineMs/);
    expect(() => resolveHiveConfig({ queenUrl: "ftp://x" }, {})).toThrow(/scheme/);
  });
});

describe("defaultStateDir", () => {
  it("uses /var/lib as root and the XDG state directory otherwise", () => {
    expect(defaultStateDir({}, 0)).toBe("/var/lib/apiary/hive");
    expect(defaultStateDir({ XDG_STATE_HOME: "/s" }, 1000)).toBe("/s/apiary/hive");
    expect(defaultStateDir({}, 1000)).toBe(`${os.homedir()}/.local/state/apiary/hive`);
  });
});

describe("advertisedEndpoint", () => {
  it("uses the bound port, and the hostname for a wildcard address", () => {
    expect(advertisedEndpoint(resolveHiveConfig({ port: 0 }, {}), 4321)).toBe("http://127.0.0.1:4321");
    expect(advertisedEndpoint(resolveHiveConfig({ host: "0.0.0.0" }, {}), 7835)).toBe(`http://${os.hostname()}:7835`);
    expect(advertisedEndpoint(resolveHiveConfig({ host: "::1" }, {}), 1)).toBe("http://[::1]:1");
    expect(advertisedEndpoint(resolveHiveConfig({ advertiseUrl: "http://hive-3:7835" }, {}), 1)).toBe("http://hive-3:7835");
  });

  it("gives every hive its own cgroup parent, apiary/<hive_id> unless configured", () => {
    expect(resolveHiveConfig({ hiveId: "gpu-1" }, {}).cgroupParent).toBe("apiary/gpu-1");
    expect(resolveHiveConfig({ hiveId: "a b/../c" }, {}).cgroupParent).toBe("apiary/a_b_.._c");
    expect(resolveHiveConfig({ hiveId: ".." }, {}).cgroupParent).toBe("apiary/_");
    expect(resolveHiveConfig({ hiveId: "h" }, { APIARY_CGROUP_PARENT: "apiary-test/x1" }).cgroupParent).toBe("apiary-test/x1");
    expect(resolveHiveConfig({ cgroupParent: "mine/h" }, { APIARY_CGROUP_PARENT: "other" }).cgroupParent).toBe("mine/h");
    expect(resolveHiveConfig({}, { APIARY_HIVE_ID: "from-env" }).cgroupParent).toBe("apiary/from-env");
    for (const bad of ["/abs", "a/../b", "a//b", "./a"]) expect(() => resolveHiveConfig({ cgroupParent: bad }, {})).toThrow(/cgroupParent/);
  });
});
