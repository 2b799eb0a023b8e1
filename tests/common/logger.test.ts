import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger, LogFormatError, resolveLogFormat } from "../../src/common/logger.js";

describe("daemon logger", () => {
  let dir = "";
  const saved = process.env.APIARY_LOG_FORMAT;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "apiary-logger-"));
    delete process.env.APIARY_LOG_FORMAT;
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.APIARY_LOG_FORMAT;
    else process.env.APIARY_LOG_FORMAT = saved;
  });

  it("chooses JSON for a file, the explicit format first, then APIARY_LOG_FORMAT", () => {
    expect(resolveLogFormat(path.join(dir, "x.log"))).toBe("json");
    process.env.APIARY_LOG_FORMAT = " Pretty ";
    expect(resolveLogFormat(path.join(dir, "x.log"))).toBe("pretty");
    expect(resolveLogFormat(path.join(dir, "x.log"), "json")).toBe("json");
  });

  it("refuses an unknown format, naming the variable", () => {
    process.env.APIARY_LOG_FORMAT = "xml";
    expect(() => resolveLogFormat(1)).toThrow(LogFormatError);
    expect(() => resolveLogFormat(1)).toThrow('APIARY_LOG_FORMAT: expected json or pretty, got "xml"');
  });

  it("has written each line by the time the call returns, in either format", () => {
    const jsonFile = path.join(dir, "sub", "json.log");
    createLogger("hive", { destination: jsonFile }).info({ workerId: "w1" }, "worker spawned");
    expect(JSON.parse(readFileSync(jsonFile, "utf8"))).toMatchObject({ name: "hive", workerId: "w1", msg: "worker spawned" });

    const prettyFile = path.join(dir, "pretty.log");
    createLogger("hive", { destination: prettyFile, format: "pretty" }).warn("queen unreachable");
    expect(readFileSync(prettyFile, "utf8")).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN \(hive\): queen unreachable\n$/);
  });
});
