import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Queen } from "../../src/queen/queen.js";
import { startTestQueen } from "../queen/helpers/queen-fixture.js";
import { makeReport, makeWorker } from "../queen/helpers/telemetry-builders.js";
import { TestHive } from "../queen/helpers/test-hive.js";
import { WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import { ApiaryProcess, runApiary } from "./helpers/apiary-process.js";
import { waitUntil } from "../helpers/wait.js";

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

  it("apiary workers --state failed and apiary watch show why a worker ended (REASON)", async () => {
    const ended = makeWorker("oom-1", { state: WorkerState.FAILED, exitSignal: "SIGKILL", reason: "OOMKilled" });
    await hive.report(makeReport(2, [], [makeWorker("fine"), ended]));
    await hive.report(makeReport(3, [], [makeWorker("fine")])); // the hive dropped it once acked
    const out = await runApiary(["workers", "--state", "failed", "--queen", queen.url]);
    expect(out.code).toBe(0);
    const [header, row] = out.stdout.split("\n");
    expect(header).toMatch(/\bREASON\s*$/);
    expect(row).toMatch(/^h-cli\s+oom-1\s.*\bfailed\b.*\bOOMKilled\s*$/);
    const watch = ApiaryProcess.start(["watch", "--queen", queen.url, "--kind", "worker"]);
    try {
      await watch.waitFor(/worker\s+ADDED\s+h-cli\/oom-1 .*state=failed signal=SIGKILL reason=OOMKilled/);
    } finally {
      await watch.stop();
    }
  });

  it("apiary hives says when a hive stopped leaving workers running", async () => {
    hive.send({ case: "goodbye", value: { reason: "Ctrl-C", workersLeftRunning: 2 } });
    await waitUntil(() => queen.registry.hive("h-cli")?.departure !== undefined, "the queen to take the goodbye");
    const out = await runApiary(["hives", "--queen", queen.url]);
    expect(out.stdout).toMatch(/^h-cli\s+down\b/m);
    expect(out.stdout).toMatch(/^h-cli: stopped .* leaving 2 worker\(s\) running \(Ctrl-C\); listed until it is back or evicted$/m);
  });
});
