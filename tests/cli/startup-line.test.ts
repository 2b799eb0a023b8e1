import { describe, expect, it } from "vitest";
import { readoptedLine } from "../../src/cli/startup-line.js";

describe("readoptedLine", () => {
  it("names every re-adopted worker, in one line, singular for one", () => {
    expect(readoptedLine(["demo-1", "demo-2"])).toBe("re-adopted 2 running workers from an earlier run: demo-1, demo-2\n");
    expect(readoptedLine(["demo-1"])).toBe("re-adopted 1 running worker from an earlier run: demo-1\n");
  });
});
