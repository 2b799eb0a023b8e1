import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ThrottledWarning } from "../../src/hive/throttled-warning.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level: "debug" }, stream), lines };
}

describe("ThrottledWarning", () => {
  it("logs the first failure, then one summary per interval with the suppressed count", async () => {
    const { logger, lines } = capture();
    let now = 0;
    const warning = new ThrottledWarning(logger, 60_000, () => now);
    for (let i = 0; i < 100; i += 1) {
      warning.fail({ attempt: i }, "queen unreachable");
      now += 1000; // one failure a second for 100 s
    }
    warning.recover({}, "queen reachable again");
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [40, "queen unreachable"],
      [40, "queen unreachable (still failing)"],
      [30, "queen reachable again"],
    ]);
    expect(lines[1].repeated).toBe(59);
    expect(lines[2].suppressed).toBe(39);
  });

  it("logs nothing on recover when nothing failed, and warns afresh after a recovery", async () => {
    const { logger, lines } = capture();
    const warning = new ThrottledWarning(logger, 60_000, () => 0);
    warning.recover({}, "fine");
    warning.fail({}, "broken");
    warning.recover({}, "fine");
    warning.fail({}, "broken");
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((l) => l.msg)).toEqual(["broken", "fine", "broken"]);
    expect(warning.isFailing).toBe(true);
  });
});
