import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Queen } from "../../src/queen/queen.js";
import { startTestQueen } from "../queen/helpers/queen-fixture.js";
import { makeReport, makeWorker } from "../queen/helpers/telemetry-builders.js";
import { TestHive } from "../queen/helpers/test-hive.js";
import { runApiary } from "./helpers/apiary-process.js";

/** What an operator sees of failures through the `apiary` command. */
describe("apiary shows failures", () => {
  let queen: Queen;
  let hive: TestHive;

  beforeAll(async () => {
    ({ queen } = await startTestQueen());
    hive = await TestHive.connect(queen.url, "h-cli");
  });
  afterAll(async () => {
    hive?.abort();
    await queen?.close();
  });

  it("apiary hives names a worker entry the queen left out, and why", async () => {
    await hive.report(makeReport(1, [], [makeWorker("fine"), makeWorker("bad", { labels: { "team x": "a" } })]));
    const out = await runApiary(["hives", "--queen", queen.url]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^h-cli: queen: worker "bad" left out of the report: report\.workers\[1\]\.labels\["team x"\]: key must be/m);
  });
});
