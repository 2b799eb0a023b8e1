import { afterEach, describe, expect, it } from "vitest";
import type { Queen } from "../../src/queen/queen.js";
import { counterDelta, etcdWriteCounters } from "../../bench/multi-queen/etcd-metrics.js";
import { DEFAULT_FAILOVER_FLEET, FailoverFleet } from "../../bench/multi-queen/failover-fleet.js";
import { startEtcd, type EtcdCluster } from "../helpers/etcd.js";
import { waitUntil } from "../helpers/wait.js";
import { startTestQueen } from "../queen/helpers/queen-fixture.js";

const address = (q: Queen) => q.url.replace(/^https?:\/\//, "");

describe("the multi-queen bench's hives", () => {
  const queens: Queen[] = [];
  let fleet: FailoverFleet | undefined;
  afterEach(async () => {
    await fleet?.stop();
    fleet = undefined;
    await Promise.all(queens.splice(0).map((q) => q.close()));
  });

  async function twoQueensAndFleet(overrides: Partial<typeof DEFAULT_FAILOVER_FLEET> = {}): Promise<FailoverFleet> {
    for (let i = 0; i < 2; i++) queens.push((await startTestQueen()).queen);
    fleet = new FailoverFleet({ ...DEFAULT_FAILOVER_FLEET, workers: 2, gpus: 1, models: 4, hivesPerConnection: 2, addresses: queens.map(address), ...overrides });
    await fleet.start(4);
    return fleet;
  }

  it("spread over the queens by connection, move to the next queen with the same incarnation when theirs closes", async () => {
    const f = await twoQueensAndFleet();
    expect(queens.map((q) => q.registry.hiveCount())).toEqual([2, 2]);
    const [from, to] = queens.map(address);
    const moving = Object.entries(f.placement()).filter(([, a]) => a === from).map(([id]) => id);
    const incarnations = moving.map((id) => queens[0].registry.hive(id)?.incarnation);
    expect(incarnations.every((i) => i !== undefined)).toBe(true);
    await queens.shift()!.close();
    await waitUntil(() => f.reconnects.length === 1 && f.connectedCount() === 4, "the closed queen's hives back on the other");
    expect(f.reconnects[0]).toMatchObject({ hives: 2, from, to, tries: 1 });
    expect(moving.map((id) => queens[0].registry.hive(id)?.incarnation)).toEqual(incarnations);
    expect(Object.values(f.placement()).every((a) => a === to)).toBe(true);
  });

  it("give up after maxTries when no queen answers", async () => {
    const f = await twoQueensAndFleet({ retryMs: 5, maxTries: 3 });
    await Promise.all(queens.splice(0).map((q) => q.close()));
    await waitUntil(() => f.gaveUp === 2, "both connections to give up");
    expect(f.reconnects).toEqual([]);
    expect(f.connectedCount()).toBe(0);
  });
});

describe("etcd's write counters on /metrics", () => {
  let etcd: EtcdCluster | undefined;
  afterEach(async () => etcd?.stop());

  it("count a put as one revision and one put", async () => {
    etcd = await startEtcd();
    const url = etcd.endpoints[0];
    const addr = url.replace(/^https?:\/\//, "");
    const before = await etcdWriteCounters(addr);
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const res = await fetch(`${url}/v3/kv/put`, { method: "POST", body: JSON.stringify({ key: b64("k"), value: b64("v") }) });
    expect(res.ok).toBe(true);
    const d = counterDelta(before, await etcdWriteCounters(addr));
    expect(d).toMatchObject({ revision: 1, puts: 1, deletes: 0, leaseRenewals: 0 });
  });
});
