import { afterEach, describe, expect, it } from "vitest";
import { Informer } from "../../src/client/informer.js";
import type { InformerChange } from "../../src/client/informer-index.js";
import type { Client } from "@connectrpc/connect";
import type { QueenService } from "../../gen/apiary/v1/queen_pb.js";
import type { Queen } from "../../src/queen/queen.js";
import { startTestQueen } from "../queen/helpers/queen-fixture.js";
import { syntheticReport } from "../queen/helpers/telemetry-builders.js";
import { TestHive } from "../queen/helpers/test-hive.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const HOUR = 3_600_000;

async function queen(): Promise<Queen & { client: Client<typeof QueenService> }> {
  const { queen, client } = await startTestQueen({ healthyMs: HOUR, degradedMs: 2 * HOUR });
  cleanups.push(() => queen.close());
  return Object.assign(queen, { client });
}

async function hive(q: Queen, id: string, workers: number, tick = 0): Promise<TestHive> {
  const h = await TestHive.connect(q.url, id);
  cleanups.push(() => h.abort());
  await h.reportSynthetic({ workers, gpus: 1, tick });
  return h;
}

/** Every change the informer's handlers see, as "<type> <kind>/<key>". */
function record(informer: Informer): string[] {
  const seen: string[] = [];
  const say = (c: InformerChange) => seen.push(c.kind === "worker" ? `${c.type} worker/${c.worker.key}` : `${c.type} hive/${c.hive.info?.hiveId}`);
  for (const type of ["added", "updated", "removed"] as const) informer.on(type, say);
  return seen;
}

const keys = (res: { matches: { hiveId: string; worker?: { workerId: string } }[] }) => res.matches.map((m) => `${m.hiveId}/${m.worker!.workerId}`);

describe("Informer across a queen failover", () => {
  it("converges on the next queen's state, firing one handler call per difference and none for what is unchanged", async () => {
    const a = await queen();
    const b = await queen();
    // The same two hives on both queens, as two queens of one cluster would show them.
    for (const q of [a, b]) {
      await hive(q, "hx", 2);
      await hive(q, "hy", 3);
    }
    const informer = new Informer({ queens: [a, b].map((q) => q.client) });
    cleanups.push(() => informer.close());
    await informer.synced();
    expect(keys(informer.find())).toEqual(["hx/w0", "hx/w1", "hy/w0", "hy/w1", "hy/w2"]);
    const seen = record(informer);

    // While the informer watches A: on B, hx leaves, hy loses w2 and its w1 changes, hz arrives.
    const onB = b.registry;
    await (await TestHive.connect(b.url, "hx")).goodbye(); // a new incarnation that says goodbye at once: evicted
    expect(onB.hive("hx")).toBeUndefined();
    const hy = await TestHive.connect(b.url, "hy");
    cleanups.push(() => hy.abort());
    const report = syntheticReport({ hiveId: "hy", workers: 2, gpus: 1 });
    report.workers[1].cpuPct = 99;
    await hy.report(report);
    await hive(b, "hz", 1);

    const aRevision = BigInt(a.registry.revision());
    await a.close();
    // A revision of A's epoch is released by the end of B's snapshot.
    await informer.whenRevision(aRevision + 1n);

    const want = await b.client.findWorkers({ limit: 1000 });
    expect(keys(informer.find({ limit: 1000 }))).toEqual(keys(want));
    expect(informer.staleness()).toMatchObject({ synced: true, live: true, queen: 1, revision: want.revision });
    expect(seen.filter((s) => s.includes("worker/")).sort()).toEqual([
      "added worker/hz/w0",
      "removed worker/hx/w0",
      "removed worker/hx/w1",
      "removed worker/hy/w2",
      "updated worker/hy/w1",
    ]);
    // hy's status differs between the queens (incarnation, times): one update; hx gone; hz new.
    expect(seen.filter((s) => s.includes("hive/")).sort()).toEqual(["added hive/hz", "removed hive/hx", "updated hive/hy"]);
  });
});
