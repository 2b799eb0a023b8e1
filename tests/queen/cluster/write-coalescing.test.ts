import { afterEach, describe, expect, it } from "vitest";
import { HiveHealth } from "../../../gen/apiary/v1/queen_pb.js";
import { StoreUnavailableError, type ClusterStore, type HiveMembership, type QueenSession, type WriteOutcome } from "../../../src/queen/cluster/cluster-store.js";
import { waitUntil } from "../../helpers/wait.js";
import { TestHive } from "../helpers/test-hive.js";
import { TestCluster } from "./helpers/cluster-fixture.js";

let cluster: TestCluster;
const hives: TestHive[] = [];
afterEach(async () => {
  for (const h of hives.splice(0)) h.abort();
  await cluster?.close();
});

describe("several queens: membership writes", () => {
  it("one write at a time per hive; transitions meanwhile coalesce to the latest state", async () => {
    cluster = new TestCluster();
    const inner = cluster.store;
    const updates: HiveMembership[] = [];
    let release: () => void = () => {};
    let gate: Promise<void> | undefined;
    const gated: ClusterStore = {
      openSession: async (m, ttl) => {
        const session = await inner.openSession(m, ttl);
        const wrapped: QueenSession = Object.assign(Object.create(session) as QueenSession, {
          updateHive: async (value: HiveMembership): Promise<WriteOutcome> => {
            updates.push(value);
            await gate;
            return session.updateHive(value);
          },
        });
        return wrapped;
      },
      list: () => inner.list(),
      watch: (after, handlers) => inner.watch(after, handlers),
      writeOrphan: (h, r, v) => inner.writeOrphan(h, r, v),
      close: async () => {},
    };
    const a = await cluster.start("a", { clusterStore: gated });
    const hive = await TestHive.connect(a.url, "h1");
    hives.push(hive);
    // The health changes below are the test's alone: the liveness sweep would set the health its
    // age says (HEALTHY) within 250 ms and overwrite the state the test waits for.
    await a.sweeper.stop();
    gate = new Promise<void>((resolve) => (release = resolve));

    a.registry.setHealth("h1", HiveHealth.DEGRADED);
    await waitUntil(() => updates.length === 1, "the first write in flight");
    for (const health of [HiveHealth.HEALTHY, HiveHealth.DEGRADED, HiveHealth.DOWN, HiveHealth.DEGRADED, HiveHealth.DOWN]) a.registry.setHealth("h1", health);
    expect(updates.length).toBe(1); // nothing more while it is in flight
    release();
    await waitUntil(async () => (await inner.list()).hives.get("h1")?.value.health === HiveHealth.DOWN, "the latest state written");
    // The first write, then one for everything that happened while it was in flight.
    expect(updates.map((u) => HiveHealth[u.health])).toEqual(["DEGRADED", "DOWN"]);
  });

  it("a transition the store could not take is written once it can, the latest state winning", async () => {
    cluster = new TestCluster();
    const inner = cluster.store;
    let failing = 2;
    const attempts: string[] = [];
    const flaky: ClusterStore = {
      openSession: async (m, ttl) => {
        const session = await inner.openSession(m, ttl);
        return Object.assign(Object.create(session) as QueenSession, {
          updateHive: async (value: HiveMembership): Promise<WriteOutcome> => {
            attempts.push(HiveHealth[value.health]);
            if (failing-- > 0) throw new StoreUnavailableError("store unreachable for a moment");
            return session.updateHive(value);
          },
        });
      },
      list: () => inner.list(),
      watch: (after, handlers) => inner.watch(after, handlers),
      writeOrphan: (h, r, v) => inner.writeOrphan(h, r, v),
      close: async () => {},
    };
    const a = await cluster.start("a", { clusterStore: flaky });
    const hive = await TestHive.connect(a.url, "h1");
    hives.push(hive);
    // The health changes below are the test's alone: the liveness sweep would set the health its
    // age says (HEALTHY) within 250 ms and overwrite the state the test waits for.
    await a.sweeper.stop();
    a.registry.setHealth("h1", HiveHealth.DEGRADED);
    await waitUntil(() => attempts.length >= 1, "the first write tried");
    a.registry.setHealth("h1", HiveHealth.DOWN);
    await waitUntil(async () => (await inner.list()).hives.get("h1")?.value.health === HiveHealth.DOWN, "the latest state written after the failures");
    expect(attempts[0]).toBe("DEGRADED");
    expect(attempts.at(-1)).toBe("DOWN");
    expect(attempts.length).toBeGreaterThanOrEqual(3); // two refused, then the latest
  });
});
