import { equals } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { WorkerOrder } from "../../gen/apiary/v1/queen_pb.js";
import { WorkerTelemetrySchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { Informer } from "../../src/client/informer.js";
import { startTestQueen } from "../queen/helpers/queen-fixture.js";
import { choices, MODELS, randomQuery, RandomCluster } from "./helpers/random-cluster.js";

const HOUR = 3_600_000;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("Informer.find", () => {
  it("answers random queries exactly as the queen's FindWorkers does, over a cluster changed at random", async () => {
    // Liveness thresholds of an hour: health changes only when the test makes them, so the queen
    // cannot change between the informer catching up and the FindWorkers call.
    const { queen, client } = await startTestQueen({ healthyMs: HOUR, degradedMs: 2 * HOUR });
    cleanups.push(() => queen.close());
    const seed = 20261207;
    const r = choices(seed);
    const cluster = new RandomCluster(queen, r);
    cleanups.push(() => cluster.close());
    const informer = new Informer({ queens: client });
    cleanups.push(() => informer.close());
    await informer.synced();

    let nonEmpty = 0;
    let queries = 0;
    for (let round = 0; round < 120; round++) {
      for (let i = 0; i < 1 + r.int(4); i++) await cluster.mutate();
      await informer.whenRevision(BigInt(queen.registry.revision()));
      for (let q = 0; q < 15; q++) {
        const req = randomQuery(r);
        const context = `seed ${seed} round ${round}: ${JSON.stringify(req, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v))}`;
        const want = await client.findWorkers(req);
        const got = informer.find(req);
        queries++;
        expect(got.totalMatches, context).toBe(want.totalMatches);
        expect(
          got.matches.map((m) => [m.hiveId, m.worker!.workerId, m.freeVramBytes, m.health, m.hiveEndpoint]),
          context,
        ).toEqual(want.matches.map((m) => [m.hiveId, m.worker!.workerId, m.freeVramBytes, m.health, m.hiveEndpoint]));
        got.matches.forEach((m, i) => expect(equals(WorkerTelemetrySchema, m.worker!, want.matches[i].worker!), context).toBe(true));
        if (want.totalMatches > 0) nonEmpty++;
      }
    }
    // The random queries must exercise matches, not only empty answers.
    expect(nonEmpty).toBeGreaterThan(queries / 4);
  }, 120_000);

  it("pick's built-in policies agree with find's orders on the model's RUNNING workers of HEALTHY hives", async () => {
    const { queen, client } = await startTestQueen({ healthyMs: HOUR, degradedMs: 2 * HOUR });
    cleanups.push(() => queen.close());
    const r = choices(7);
    const cluster = new RandomCluster(queen, r);
    cleanups.push(() => cluster.close());
    const informer = new Informer({ queens: client });
    cleanups.push(() => informer.close());
    await informer.synced();
    let picked = 0;
    for (let round = 0; round < 40; round++) {
      await cluster.mutate();
      await informer.whenRevision(BigInt(queen.registry.revision()));
      for (const model of [...MODELS, "unknown"]) {
        const all = informer.find({ model, limit: 1000 });
        const ids = (xs: { hiveId: string; worker?: { workerId: string } }[]) => xs.map((m) => `${m.hiveId}/${m.worker!.workerId}`);
        const first = (order: WorkerOrder) => ids(informer.find({ model, order, limit: 1 }).matches)[0];
        expect(informer.pick(model, "least-loaded")?.key).toBe(first(WorkerOrder.LEAST_LOADED));
        expect(informer.pick(model, "most-free-vram")?.key).toBe(first(WorkerOrder.MOST_FREE_VRAM));
        // Round-robin visits each candidate once per turn.
        const turn = Array.from({ length: all.totalMatches }, () => informer.pick(model, "round-robin")!.key);
        expect(turn.sort()).toEqual(ids(all.matches).sort());
        expect(informer.candidates(model).map((w) => w.key).sort()).toEqual(ids(all.matches).sort());
        if (all.totalMatches > 0) picked++;
      }
    }
    expect(picked).toBeGreaterThan(20);
  }, 60_000);
});
