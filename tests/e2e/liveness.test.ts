import { afterEach, describe, expect, it } from "vitest";
import { EventType, HiveHealth } from "../../gen/apiary/v1/queen_pb.js";
import { Cluster } from "./helpers/cluster.js";
import { WatchLog, hiveHealthIs, hiveRemoved, workerEvent } from "./helpers/watch-log.js";

// The queen runs with DEGRADED after 1 s, DOWN after 2.5 s, eviction 2 s after that.
describe("liveness of a real hive process", () => {
  let cluster: Cluster;
  let watch: WatchLog;

  async function startWithWorker(): Promise<void> {
    cluster = new Cluster();
    await cluster.startQueen();
    await cluster.startHive();
    watch = new WatchLog(cluster.queenClient, [cluster.hiveId]);
    await cluster.spawnDemo("live-1", "liveness-model");
    await watch.waitFor(workerEvent("live-1", EventType.ADDED), "ADDED live-1");
  }

  afterEach(async () => {
    watch?.close();
    await cluster?.cleanup();
  });

  it("a SIGKILLed hive goes DEGRADED, then DOWN on schedule, then is evicted with its workers", async () => {
    await startWithWorker();
    const killedAt = Date.now();
    cluster.hive.signal("SIGKILL");
    const degraded = await watch.waitFor(hiveHealthIs(cluster.hiveId, HiveHealth.DEGRADED), "DEGRADED");
    const down = await watch.waitFor(hiveHealthIs(cluster.hiveId, HiveHealth.DOWN), "DOWN");
    // DOWN is judged from the last report, at most one report interval (250 ms) before the kill.
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(2_500 - 250);
    const workerGone = await watch.waitFor(workerEvent("live-1", EventType.REMOVED), "REMOVED live-1");
    const hiveGone = await watch.waitFor(hiveRemoved(cluster.hiveId), "hive REMOVED");
    const order = [degraded, down, workerGone, hiveGone].map((m) => m.revision);
    expect(order).toEqual([...order].sort((a, b) => (a < b ? -1 : 1)));
    const revisions = watch.messages.map((m) => m.revision).filter((r) => r > 0n);
    expect(revisions).toEqual([...revisions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect((await cluster.queenClient.findWorkers({ model: "liveness-model", includeDegraded: true })).matches).toHaveLength(0);
    await expect(cluster.queenClient.getHive({ hiveId: cluster.hiveId })).rejects.toThrow(/not_found|not found/i);
  });

  it("a stopped hive (alive but silent) degrades and recovers without eviction when continued", async () => {
    await startWithWorker();
    cluster.hive.signal("SIGSTOP");
    await watch.waitFor(hiveHealthIs(cluster.hiveId, HiveHealth.DEGRADED), "DEGRADED");
    cluster.hive.signal("SIGCONT");
    const healthy = await watch.waitFor(
      (m) => hiveHealthIs(cluster.hiveId, HiveHealth.HEALTHY)(m) && m.revision > 0n &&
        watch.messages.some((d) => hiveHealthIs(cluster.hiveId, HiveHealth.DEGRADED)(d) && d.revision < m.revision),
      "HEALTHY after DEGRADED",
    );
    expect(healthy.revision).toBeGreaterThan(0n);
    expect(watch.messages.some(hiveRemoved(cluster.hiveId))).toBe(false);
    expect(watch.messages.some(workerEvent("live-1", EventType.REMOVED))).toBe(false);
    const res = await cluster.queenClient.findWorkers({ model: "liveness-model" });
    expect(res.matches.map((m) => m.worker?.workerId)).toEqual(["live-1"]);
  });
});
