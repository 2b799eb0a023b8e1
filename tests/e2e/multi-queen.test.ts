import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as ServingStatus, Health } from "../../gen/grpc/health/v1/health_pb.js";
import { EventType, HiveHealth, type WatchResponse } from "../../gen/apiary/v1/queen_pb.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { waitFor, waitUntil } from "../helpers/wait.js";
import { MultiQueenCluster, type HiveProcess, type QueenProcess } from "./helpers/multi-queen-cluster.js";
import { runApiary } from "./helpers/apiary-process.js";
import { WatchLog } from "./helpers/watch-log.js";

const MODEL = "multi-queen-model";
const STORE_SERVICE = "apiary.v1.ClusterStore";

/** What a queen says about the cluster's hives, comparable across queens: hive, owner, health. */
async function hiveView(queen: QueenProcess): Promise<string[]> {
  const { hives } = await queen.client.listHives({ hiveLabels: { suite: "multi-queen" }, omitWorkers: true }, { timeoutMs: 2000 });
  return hives.map((h) => `${h.info?.hiveId} owner=${h.ownerQueenId || "-"} ${HiveHealth[h.health]} connected=${h.connected}`);
}

/** Polls until every queen's view is the same and `complete`; names the views in the failure. */
async function sameEverywhere(queens: QueenProcess[], view: (q: QueenProcess) => Promise<string[]>, complete: (v: string[]) => boolean, what: string): Promise<string[]> {
  let last: string[][] = [];
  try {
    return await waitFor(async () => {
      last = await Promise.all(queens.map(view));
      return last.every(complete) && last.every((v) => JSON.stringify(v) === JSON.stringify(last[0])) ? last[0] : undefined;
    }, what, 20_000, 100);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last views:\n${last.map((v, i) => `${queens[i].id}: ${v.join(" | ")}`).join("\n")}`);
  }
}

async function storeHealth(queen: QueenProcess): Promise<ServingStatus | undefined> {
  const health = createClient(Health, createApiaryTransport(queen.url));
  return (await health.check({ service: STORE_SERVICE }, { timeoutMs: 2000 }).catch(() => undefined))?.status;
}

/** A DOWN or REMOVED of one of `hiveIds`, hive or worker, anywhere in the log. */
function downOrRemoved(hiveIds: string[]) {
  return (m: WatchResponse) =>
    (m.kind.case === "hive" && hiveIds.includes(m.kind.value.hive?.info?.hiveId ?? "") &&
      (m.kind.value.type === EventType.REMOVED || m.kind.value.hive?.health === HiveHealth.DOWN)) ||
    (m.kind.case === "worker" && hiveIds.includes(m.kind.value.hiveId) && m.kind.value.type === EventType.REMOVED);
}

describe("several queens on a 3-member etcd, as real processes", () => {
  const cluster = new MultiQueenCluster();
  let hives: HiveProcess[] = [];

  beforeAll(async () => {
    await cluster.startEtcd(3);
    for (const id of ["q1", "q2", "q3"]) await cluster.startQueen(id);
    const urls = cluster.queens.map((q) => q.url);
    // Each hive lists the queens from a different first one, so every queen holds some.
    hives = await Promise.all(
      ["h1", "h2", "h3", "h4"].map((name, i) => cluster.startHive(name, [...urls.slice(i % 3), ...urls.slice(0, i % 3)].join(","))),
    );
    await Promise.all(hives.map((h, i) => cluster.spawnDemo(h, `w${i}`, MODEL)));
  }, 90_000);
  afterAll(() => cluster.cleanup(), 60_000);

  it("every queen lists every hive with the queen that holds it, and they agree", async () => {
    const view = await sameEverywhere(cluster.queens, hiveView, (v) => v.length === hives.length && v.every((l) => !l.includes("owner=-") && l.endsWith("connected=true")), "the same 4 held hives at every queen");
    const owners = new Set(view.map((l) => /owner=(\S+)/.exec(l)?.[1]));
    expect(owners.size).toBeGreaterThan(1);
    // The CLI shows the same holder at any queen: `apiary hives -o wide`'s QUEEN column.
    const wide = (await runApiary(["hives", "-o", "wide", "-l", "suite=multi-queen", "--queen", cluster.queens[2].url])).stdout;
    expect(wide).toMatch(/^HIVE .* QUEEN\s+HOSTNAME/m);
    for (const line of view) {
      const [hiveId, owner] = [line.split(" ")[0], /owner=(\S+)/.exec(line)![1]];
      expect(wide).toMatch(new RegExp(`^${hiveId}\\s.*\\s${owner}\\s`, "m"));
    }
  });

  it("every queen answers FindWorkers for the workers of every hive, and they agree", async () => {
    const workerView = async (q: QueenProcess) => {
      const { matches } = await q.client.findWorkers({ model: MODEL, limit: 1000 }, { timeoutMs: 2000 });
      return matches.map((m) => `${m.hiveId}/${m.worker?.workerId} ${m.worker?.state} pid=${m.worker?.pid}`).sort();
    };
    const view = await sameEverywhere(cluster.queens, workerView, (v) => v.length === hives.length, "the same 4 workers at every queen");
    expect(view).toHaveLength(hives.length);
  });

  it("kill -9 of a queen: its hives are claimed by the others within 5 s, never DOWN or REMOVED meanwhile", async () => {
    const [victim, ...survivors] = cluster.queens;
    const { hives: before } = await survivors[0].client.listHives({ hiveLabels: { suite: "multi-queen" } });
    const moving = before.filter((h) => h.ownerQueenId === victim.id).map((h) => h.info!.hiveId);
    expect(moving.length).toBeGreaterThan(0);
    const watches = survivors.map((q) => new WatchLog(q.client, moving));
    await Promise.all(watches.map((w) => w.waitFor((m) => m.kind.case === "snapshotEnd", "snapshot end")));
    let readFailures = 0;
    let reads = 0;
    let reading = true;
    const readLoop = (async () => {
      while (reading) {
        for (const q of survivors) {
          reads += 1;
          await q.client.findWorkers({ model: MODEL }, { timeoutMs: 2000 }).catch(() => (readFailures += 1));
        }
      }
    })();

    const killedAt = performance.now();
    victim.process.signal("SIGKILL");
    await waitUntil(async () => {
      const lists = await Promise.all(survivors.map((q) => q.client.listHives({ omitWorkers: true }, { timeoutMs: 2000 }).catch(() => ({ hives: [] }))));
      return lists.every((l) => {
        const moved = l.hives.filter((h) => moving.includes(h.info?.hiveId ?? ""));
        return moved.length === moving.length && moved.every((h) => h.connected && h.ownerQueenId !== victim.id && h.ownerQueenId !== "");
      });
    }, "the victim's hives claimed by surviving queens", 10_000, 25);
    const failoverMs = performance.now() - killedAt;
    reading = false;
    await readLoop;
    console.log(`multi-queen: failover of ${moving.length} hives after kill -9: ${failoverMs.toFixed(0)} ms; ${reads} reads, ${readFailures} failed`);
    expect(failoverMs).toBeLessThan(5_000);
    expect(readFailures).toBe(0);
    // Past the dead queen's lease too: once etcd drops its keys no queen judges its former hives.
    const etcd = cluster.etcd.client();
    await waitUntil(async () => (await etcd.range(`/apiary/queens/${victim.id}`)).kvs.length === 0, "the killed queen's lease expired in etcd", 15_000, 100);
    for (const w of watches) {
      const after = w.messages.length;
      await w.waitFor((m) => w.messages.indexOf(m) >= after && m.kind.case === "hive", "a hive update after the lease expired");
    }
    for (const w of watches) {
      expect(w.messages.filter(downOrRemoved(moving))).toEqual([]);
      w.close();
    }
    cluster.queens.splice(0, 1);
  });

  it("kill -9 of one etcd member: a new hive still joins, and reads answer", async () => {
    await cluster.etcd.members[0].kill();
    const joined = await cluster.startHive("h5");
    for (const q of cluster.queens) await cluster.hiveAt(q, joined.id, (h) => h.connected && h.ownerQueenId !== "", "the new hive held");
    for (const q of cluster.queens) expect((await q.client.findWorkers({ model: MODEL })).matches.length).toBeGreaterThan(0);
  });

  it("etcd stopped entirely: reads answer from the cache, health says NOT_SERVING; when it is back a new hive joins", async () => {
    const alive = cluster.etcd.members.slice(1);
    for (const m of alive) m.pause();
    try {
      for (const q of cluster.queens) await waitUntil(async () => (await storeHealth(q)) === ServingStatus.NOT_SERVING, `${q.id} health NOT_SERVING`, 15_000, 100);
      for (const q of cluster.queens) {
        const { hives: listed } = await q.client.listHives({ hiveLabels: { suite: "multi-queen" } }, { timeoutMs: 2000 });
        expect(listed.length).toBeGreaterThanOrEqual(hives.length);
        const overall = await createClient(Health, createApiaryTransport(q.url)).check({ service: "" }, { timeoutMs: 2000 });
        expect(overall.status).toBe(ServingStatus.SERVING);
      }
    } finally {
      for (const m of alive) m.resume();
    }
    for (const q of cluster.queens) await waitUntil(async () => (await storeHealth(q)) === ServingStatus.SERVING, `${q.id} health SERVING again`, 20_000, 100);
    const joined = await cluster.startHive("h6");
    for (const q of cluster.queens) await cluster.hiveAt(q, joined.id, (h) => h.connected && h.ownerQueenId !== "", "the hive that joined after etcd came back");
  });
});
