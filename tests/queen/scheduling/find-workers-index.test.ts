import { describe, expect, it } from "vitest";
import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import { LivenessClock, ManualClock } from "../../../src/common/clock.js";
import { findWorkers } from "../../../src/queen/scheduling/find-workers.js";
import { MemoryRegistry } from "../../../src/queen/registry/memory-registry.js";
import { referenceFindWorkers } from "../helpers/find-workers-reference.js";
import { choices, randomDevices, randomHiveLabels, randomQuery, randomWorkers, type Choices, type ClusterShape } from "../helpers/random-cluster-data.js";
import { makeHiveInfo, makeReport } from "../helpers/telemetry-builders.js";

const HIVES = ["h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"];
/** Straight into the registry, no report validation: free VRAM beyond 2^53, where doubles lose precision and only the bigint orders it. */
const SHAPE: ClusterShape = { hiveIds: HIVES, models: ["llama", "mistral", "qwen", ""], hugeBytes: 2n ** 60n, healthAndLabels: false };

/** Workers name GPUs among 4 whatever the hive has: some name a GPU it does not report (free VRAM unknown). */
const GPUS_NAMED = 4;

/** One random change to the cluster: a report, a new incarnation, a health change, a disconnect or an eviction. */
function mutate(r: Choices, registry: MemoryRegistry, seq: { n: number }): void {
  const id = r.pick(HIVES);
  const action = r.int(20);
  const hive = registry.hive(id);
  if (action === 0) registry.evict(id, "test");
  else if (action === 1 && hive) registry.setHealth(id, r.pick([HiveHealth.DEGRADED, HiveHealth.DOWN, HiveHealth.HEALTHY]));
  else if (action === 2 && hive) registry.markDisconnected(id, hive.incarnation);
  else {
    const incarnation = !hive || action === 3 ? `inc${seq.n}` : hive.incarnation;
    if (!hive || hive.incarnation !== incarnation) {
      registry.hello(makeHiveInfo(id, randomHiveLabels(r, 0.5)), incarnation);
    }
    const current = registry.hive(id)!;
    const devices = r.chance(0.3) && current.devices.length > 0 ? [...current.devices] : randomDevices(r, SHAPE, id);
    registry.applyReport(id, incarnation, makeReport(++seq.n, devices, randomWorkers(r, SHAPE, id, GPUS_NAMED)));
  }
}

describe("FindWorkers over the scheduling index", () => {
  it("answers every random query like a plain computation over the full hive state", () => {
    const clock = new ManualClock();
    const registry = new MemoryRegistry({ shards: 4, historySize: 100, clock: new LivenessClock(clock) });
    const r = choices(20240611);
    const seq = { n: 0 };
    let nonEmpty = 0;
    for (let round = 0; round < 300; round++) {
      for (let i = 0; i < 1 + r.int(4); i++) mutate(r, registry, seq);
      registry.modelIndexEntries(); // throws on an inconsistent entry
      const hives = [...registry.hives()].map((h) => registry.hiveStatus(h, true));
      for (let q = 0; q < 20; q++) {
        const req = randomQuery(r, SHAPE);
        const got = findWorkers(registry, req);
        const want = referenceFindWorkers(hives, req);
        const context = JSON.stringify(req, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : v));
        expect(got.totalMatches, context).toBe(want.total);
        expect(
          got.matches.map((m) => [m.hiveId, m.worker!.workerId, m.freeVramBytes, m.health]),
          context,
        ).toEqual(want.matches.map((m) => [m.hiveId, m.worker.workerId, m.freeVramBytes, m.health]));
        got.matches.forEach((m, i) => expect(m.worker, context).toBe(registry.hive(m.hiveId)!.workers.get(want.matches[i].worker.workerId)));
        if (want.total > 0) nonEmpty++;
      }
    }
    // The random queries must exercise matches, not only empty answers.
    expect(nonEmpty).toBeGreaterThan(1000);
  });
});
