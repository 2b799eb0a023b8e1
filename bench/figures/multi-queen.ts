import type { ChildProcess } from "node:child_process";
import { create, toJsonString } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { pino } from "pino";
import { QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { HiveInfoSchema, HiveReportSchema, WorkerTelemetrySchema } from "../../gen/apiary/v1/telemetry_pb.js";
import { HeartbeatClient } from "../../src/hive/heartbeat-client.js";
import { QueenTargets } from "../../src/hive/queen-targets.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { sleep } from "../lib/args.js";
import { ChildRpc, forkBench, stopChild } from "../lib/children.js";
import { GeneratorFleet } from "../lib/generators.js";
import { figureResult, infoResult, type FigureResult } from "../lib/results.js";
import { startEtcdServer, type BenchServer } from "../lib/servers.js";
import { percentile } from "../lib/stats.js";
import { hiveId } from "../load/telemetry-model.js";
import type { FigureContext } from "./context.js";

interface QueenChild {
  id: string;
  url: string;
  child: ChildProcess;
  rpc: ChildRpc;
  client: Client<typeof QueenService>;
}

/** A queen on etcd in its own process (bench/servers/etcd-queen-child.ts). */
async function startQueenChild(id: string, etcdAddress: string, leaseTtlMs: number): Promise<QueenChild> {
  const child = forkBench("servers/etcd-queen-child.ts", [JSON.stringify({ etcd: [`http://${etcdAddress}`], queenId: id, leaseTtlMs })]);
  const { url } = await ChildRpc.waitFor<{ url: string }>(child, "ready", 60_000);
  return { id, url, child, rpc: new ChildRpc(child), client: createClient(QueenService, createApiaryTransport(url)) };
}

async function kvWrites(queens: QueenChild[]): Promise<{ kvWrites: number; keepAlives: number }> {
  const all = await Promise.all(queens.map((q) => q.rpc.call<{ kvWrites: number; keepAlives: number }>("counters")));
  return all.reduce((sum, c) => ({ kvWrites: sum.kvWrites + c.kvWrites, keepAlives: sum.keepAlives + c.keepAlives }), { kvWrites: 0, keepAlives: 0 });
}

/** etcd's revision: one per write transaction, the count of etcd writes. */
async function etcdRevision(address: string): Promise<bigint> {
  const res = await fetch(`http://${address}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: Buffer.from("\0").toString("base64") }) });
  const body = (await res.json()) as { header: { revision: string } };
  return BigInt(body.header.revision);
}

async function latencies(call: () => Promise<unknown>, n: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    samples.push(performance.now() - t0);
  }
  return samples;
}

/** Arrival time of each distinct worker state of `hive` on one queen's Watch. */
function watchArrivals(client: Client<typeof QueenService>, hive: string, signal: AbortSignal): Map<string, number> {
  const arrivals = new Map<string, number>();
  void (async () => {
    for await (const res of client.watch({ hiveIds: [hive] }, { signal })) {
      if (res.kind.case !== "worker" || !res.kind.value.worker) continue;
      const key = toJsonString(WorkerTelemetrySchema, res.kind.value.worker);
      if (!arrivals.has(key)) arrivals.set(key, performance.now());
    }
  })().catch(() => undefined);
  return arrivals;
}

/**
 * Three `apiary queen --etcd` processes on one etcd: etcd writes per hive per 10 s in steady state,
 * FindWorkers at a queen that does not hold the hives against the one that does, telemetry
 * staleness across queens, and the failover time of hives (the hive's own heartbeat client) after
 * kill -9 of their queen.
 */
export async function multiQueenFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const hivesPerQueen = ctx.flags.num("mq-hives-per-queen", 100);
  const steadyS = ctx.flags.num("mq-steady-s", 30);
  const failoverHives = ctx.flags.num("mq-failover-hives", 20);
  const leaseTtlMs = ctx.flags.num("mq-lease-ttl-ms", 10_000);
  const etcd: BenchServer = await startEtcdServer();
  const queens: QueenChild[] = [];
  const fleets: GeneratorFleet[] = [];
  const heartbeats: HeartbeatClient[] = [];
  const abort = new AbortController();
  try {
    for (const id of ["q1", "q2", "q3"]) queens.push(await startQueenChild(id, etcd.address, leaseTtlMs));
    for (const [i, q] of queens.entries()) {
      const fleet = await GeneratorFleet.start(1, { target: "apiary", address: new URL(q.url).host, firstHive: i * hivesPerQueen, workers: 8, gpus: 2 });
      fleets.push(fleet);
      await fleet.scaleTo(hivesPerQueen);
    }
    const total = hivesPerQueen * queens.length;
    ctx.log(`   ${total} hives on 3 queens; settling`);
    for (const q of queens) {
      for (let t = 0; t < 600; t++) {
        const { hives } = await q.client.listHives({ omitWorkers: true });
        if (hives.filter((h) => h.ownerQueenId !== "").length >= total) break;
        await sleep(100);
      }
    }
    await sleep(3_000);

    const rev0 = await etcdRevision(etcd.address);
    const c0 = await kvWrites(queens);
    await sleep(steadyS * 1000);
    const rev1 = await etcdRevision(etcd.address);
    const c1 = await kvWrites(queens);
    const writes = c1.kvWrites - c0.kvWrites;
    const writesPerHivePer10s = (writes / total) * (10 / steadyS);
    ctx.log(`   ${steadyS} s of steady state: ${writes} KV writes by the queens' etcd clients, etcd revision +${rev1 - rev0}, ${c1.keepAlives - c0.keepAlives} lease keep-alives (${writesPerHivePer10s.toFixed(4)} writes per hive per 10 s)`);

    // q1's hives, asked at q1 (the owner) and at q2 (from its cache, fed by q1's telemetry).
    const owned = Array.from({ length: 10 }, (_, i) => hiveId(i));
    const ask = (q: QueenChild) => () => q.client.findWorkers({ hiveIds: owned, limit: 10 });
    await latencies(ask(queens[0]), 200);
    await latencies(ask(queens[1]), 200);
    const atOwner = await latencies(ask(queens[0]), 2000);
    const atOther = await latencies(ask(queens[1]), 2000);

    const arrivalsOwner = watchArrivals(queens[0].client, hiveId(0), abort.signal);
    const arrivalsOther = watchArrivals(queens[1].client, hiveId(0), abort.signal);
    await sleep(15_000);
    const staleness = [...arrivalsOwner].filter(([k]) => arrivalsOther.has(k)).map(([k, t]) => arrivalsOther.get(k)! - t);
    ctx.log(`   telemetry staleness samples: ${staleness.length}`);

    // Failover: real heartbeat clients on q3 first, then kill -9 q3.
    const urls = [queens[2].url, queens[0].url, queens[1].url];
    const quiet = pino({ level: "silent" });
    for (let i = 0; i < failoverHives; i++) {
      const hb = new HeartbeatClient({
        queens: new QueenTargets({ urls, transport: (url) => createApiaryTransport(url) }),
        info: create(HiveInfoSchema, { hiveId: `failover-${i}`, hostname: "bench" }),
        incarnation: `bench-${i}`,
        latestReport: () => create(HiveReportSchema, {}),
        logger: quiet,
        ackDeadlineMs: 2000,
      });
      hb.start();
      heartbeats.push(hb);
    }
    const failoverIds = heartbeats.map((_, i) => `failover-${i}`);
    const heldBy = async (q: QueenChild, check: (owner: string) => boolean) => {
      const { hives } = await q.client.listHives({ omitWorkers: true }, { timeoutMs: 5000 });
      const mine = hives.filter((h) => failoverIds.includes(h.info?.hiveId ?? ""));
      return mine.length === failoverIds.length && mine.every((h) => h.connected && check(h.ownerQueenId));
    };
    let onQ3 = false;
    for (let t = 0; t < 600 && !onQ3; t++) {
      onQ3 = await heldBy(queens[0], (o) => o === "q3");
      if (!onQ3) await sleep(50);
    }
    if (!onQ3) throw new Error("the failover hives never were all held by q3");
    const killedAt = performance.now();
    queens[2].child.kill("SIGKILL");
    let failoverMs = NaN;
    for (let t = 0; t < 2000; t++) {
      if (await heldBy(queens[0], (o) => o === "q1" || o === "q2")) {
        failoverMs = performance.now() - killedAt;
        break;
      }
      await sleep(10);
    }
    ctx.log(`   failover of ${failoverHives} hives after kill -9 of their queen: ${failoverMs.toFixed(0)} ms`);

    return [
      figureResult({ figure: "multi-queen", name: "etcd writes per hive per 10 s, steady state", runs: [writesPerHivePer10s], unit: "writes", goal: "≤ 1", goalValue: 1, higherIsBetter: false, notes: `${total} hives at 1 Hz on 3 queens, ${steadyS} s window; KV writes counted by the etcd clients (etcd revision +${rev1 - rev0}); lease keep-alives (${c1.keepAlives - c0.keepAlives}, one per queen per TTL/3) are not KV writes` }),
      figureResult({ figure: "multi-queen", name: "failover after kill -9 of the hives' queen", runs: [failoverMs], unit: "ms", goal: "< 5000 ms", goalValue: 5000, higherIsBetter: false, notes: `${failoverHives} hives (the hive's heartbeat client, --queen q3,q1,q2), until all claimed by q1/q2 as q1 lists them` }),
      infoResult("multi-queen", "FindWorkers p50 at the owning queen", [percentile(atOwner, 50)], "ms", `10 hives × 8 workers, sequential, p99 ${percentile(atOwner, 99).toFixed(2)} ms`),
      infoResult("multi-queen", "FindWorkers p50 at a non-owning queen", [percentile(atOther, 50)], "ms", `same request, p99 ${percentile(atOther, 99).toFixed(2)} ms`),
      figureResult({ figure: "multi-queen", name: "telemetry staleness across queens, p99", runs: [percentile(staleness, 99)], unit: "ms", goal: "≤ 2000 ms", goalValue: 2000, higherIsBetter: false, notes: `worker states on the owner's Watch vs a non-owner's, ${staleness.length} samples, p50 ${percentile(staleness, 50).toFixed(0)} ms` }),
    ];
  } finally {
    abort.abort();
    await Promise.all(heartbeats.map((h) => h.stop({ deadlineMs: 1000 })));
    await Promise.all(fleets.map((f) => f.stop(false)));
    await Promise.all(queens.map((q) => stopChild(q.child, 5_000)));
    await etcd.stop();
  }
}
