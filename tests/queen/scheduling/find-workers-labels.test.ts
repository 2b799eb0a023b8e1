import type { Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { makeHiveInfo, makeReport, makeWorker } from "../helpers/telemetry-builders.js";
import { TestHive } from "../helpers/test-hive.js";

let queen: Queen;
let client: Client<typeof QueenService>;
const hives: TestHive[] = [];

beforeAll(async () => {
  ({ queen, client } = await startTestQueen());
  const a = await TestHive.connect(queen.url, makeHiveInfo("a", { team: "x" }));
  await a.report(makeReport(1, [], [
    makeWorker("w1", { model: "llama", labels: { team: "x", tier: "prod" } }),
    makeWorker("w2", { model: "llama", labels: { team: "y" } }),
    makeWorker("w3", { model: "mistral" }),
  ]));
  const b = await TestHive.connect(queen.url, makeHiveInfo("b", {}));
  await b.report(makeReport(1, [], [makeWorker("w1", { model: "llama", labels: { team: "x" } })]));
  hives.push(a, b);
});

afterAll(async () => {
  for (const hive of hives) hive.abort();
  await queen.close();
});

const ids = (r: { matches: { hiveId: string; worker?: { workerId: string } }[] }) => r.matches.map((m) => `${m.hiveId}/${m.worker!.workerId}`);

describe("FindWorkers worker_labels", () => {
  it("matches the workers' own labels, every one given, apart from the hives' labels", async () => {
    expect(ids(await client.findWorkers({ workerLabels: { team: "x" } }))).toEqual(["a/w1", "b/w1"]);
    expect(ids(await client.findWorkers({ workerLabels: { team: "x", tier: "prod" } }))).toEqual(["a/w1"]);
    // Hive a carries team=x; as a worker label it selects only workers that carry it themselves.
    expect(ids(await client.findWorkers({ hiveLabels: { team: "x" } }))).toEqual(["a/w1", "a/w2", "a/w3"]);
    expect(ids(await client.findWorkers({ hiveLabels: { team: "x" }, workerLabels: { team: "y" } }))).toEqual(["a/w2"]);
    const counted = await client.findWorkers({ model: "llama", workerLabels: { team: "x" }, limit: 1 });
    expect(ids(counted)).toEqual(["a/w1"]);
    expect(counted.totalMatches).toBe(2);
    expect(ids(await client.findWorkers({ hiveIds: ["b"], workerLabels: { team: "x" } }))).toEqual(["b/w1"]);
  });
});
