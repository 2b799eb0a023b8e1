import { describe, expect, it } from "vitest";
import { formatBytes, formatDuration, parseDuration, parseSize } from "../../src/common/units.js";

describe("parseSize", () => {
  it.each([
    ["0", 0n],
    ["1024", 1024n],
    ["512MiB", 512n * 1024n ** 2n],
    ["8GiB", 8n * 1024n ** 3n],
    ["8 gib", 8n * 1024n ** 3n],
    ["1.5GiB", 3n * 512n * 1024n ** 2n],
    ["2GB", 2_000_000_000n],
    ["4k", 4000n],
    ["1TiB", 1024n ** 4n],
    ["100B", 100n],
  ])("%s → %s", (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(["", "GiB", "-1GiB", "8 parsecs", "1.5", "abc", "1e9", "0.1B"])("rejects %j naming it", (text) => {
    expect(() => parseSize(text)).toThrow(`"${text}"`);
  });
});

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [512, "512 B"],
    [1536, "1.5 KiB"],
    [7.5 * 1024 ** 3, "7.5 GiB"],
    [8n * 1024n ** 3n, "8 GiB"],
    [80n * 1024n ** 3n, "80 GiB"],
    [300 * 1024 ** 2, "300 MiB"],
    [2n * 1024n ** 4n, "2 TiB"],
  ])("%s → %s", (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });

  it("round-trips with parseSize", () => {
    expect(formatBytes(parseSize("1.5GiB"))).toBe("1.5 GiB");
  });
});

describe("parseDuration", () => {
  it.each([
    ["500ms", 500],
    ["5s", 5000],
    ["1.5m", 90_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    ["3", 3000],
    ["0.25", 250],
    [" 10s ", 10_000],
  ])("%s → %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "s", "-5s", "5 weeks", "five", "1h30m"])("rejects %j naming it", (text) => {
    expect(() => parseDuration(text)).toThrow(`"${text}"`);
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0ms"],
    [250, "250ms"],
    [1500, "1.5s"],
    [5000, "5s"],
    [90_000, "1m30s"],
    [7_200_000, "2h"],
    [3_723_000, "1h2m3s"],
    [90_000_000, "1d1h"],
  ])("%d → %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
