import type { ChildProcess } from "node:child_process";
import { sleep } from "../lib/args.js";
import { ChildRpc, forkBench, stopChild } from "../lib/children.js";
import { figureResult, infoResult, type FigureResult } from "../lib/results.js";
import { startEtcdServer, type BenchServer } from "../lib/servers.js";
import { summarize } from "../lib/stats.js";
import type { WindowStats } from "../load/load-stats.js";
import { modelOf } from "../load/telemetry-model.js";
import { counterDelta, etcdWriteCounters } from "../multi-queen/etcd-metrics.js";
import { DEFAULT_FAILOVER_FLEET, type FailoverFleetConfig, type Reconnect } from "../multi-queen/failover-fleet.js";
import { startEtcdQueenProcess, type QueenProcess } from "../multi-queen/queen-process.js";
import { ChurnWatch, compareArrivals, findWorkersAtBoth, hivesAt, queenClient, WorkerArrivals, type HiveView, type QueenClient } from "../multi-queen/queen-probes.js";
import type { FigureContext } from "./context.js";

interface QueenChild extends QueenProcess {
  client: QueenClient;
}

const POLL_MS = 50;

/**
 * Several queens on one etcd, each server in its own process on 127.0.0.1: etcd, `apiary queen
 * --etcd` ×3, and hives (raw Heartbeat streams, 8 workers × 2 GPUs, 1 Hz) that
 * know every queen, spread over them by connection. In order: etcd's own write counters over a
 * steady-state window; how much later a non-owning queen's Watch shows a report than the owner's;
 * FindWorkers at the owning queen and at another; kill -9 of the queen holding a third of the
 * hives, until every one of them is held by a survivor, counting DOWN and REMOVED meanwhile.
 */
export async function multiQueenFigure(ctx: FigureContext): Promise<FigureResult[]> {
  const f = ctx.flags;
  const hives = f.num("mq-hives", 300);
  const queenCount = f.num("mq-queens", 3);
  const warmupMs = f.num("mq-warmup-ms", 15_000);
  const windowMs = f.num("mq-window-ms", 30_000);
  const fwRounds = f.num("mq-fw-rounds", 1_000);
  const sampleSize = f.num("mq-sample-hives", 20);
  const failoverDeadlineMs = f.num("mq-failover-deadline-ms", 30_000);
  // Past the dead queen's lease (10 s) and the DOWN delay after it: an untaken hive would show DOWN.
  const observeMs = f.num("mq-observe-ms", 25_000);
  const leaseTtlMs = f.num("mq-lease-ttl-ms", 0);
  if (queenCount < 3) throw new Error("--mq-queens: at least 3 (an owner, another queen, and one to kill)");
  const fleetConfig: FailoverFleetConfig & { hives: number } = {
    ...DEFAULT_FAILOVER_FLEET,
    workers: f.num("workers", 8),
    gpus: f.num("gpus", 2),
    models: f.num("models", 200),
    hivesPerConnection: f.num("mq-hives-per-connection", 25),
    addresses: [],
    hives,
  };

  const etcd: BenchServer = await startEtcdServer();
  const queens: QueenChild[] = [];
  let fleetChild: ChildProcess | undefined;
  try {
    // The first start rebuilds the bundle if a source changed; the others then start at once.
    queens.push(await startEtcdQueen("q1", etcd.address, leaseTtlMs));
    queens.push(...(await Promise.all(Array.from({ length: queenCount - 1 }, (_, i) => startEtcdQueen(`q${i + 2}`, etcd.address, leaseTtlMs)))));
    fleetConfig.addresses = queens.map((q) => q.address);
    fleetChild = forkBench("multi-queen/failover-fleet-child.ts", [JSON.stringify(fleetConfig)]);
    await ChildRpc.waitFor(fleetChild, "ready");
    const fleet = new ChildRpc(fleetChild);
    await fleet.call("start", {}, 180_000);
    const joined = performance.now();
    const views = await untilEveryQueen(queens, (v) => v.size === hives && [...v.values()].every((h) => h.owner !== "" && h.connected), "every hive held and connected", 60_000);
    ctx.log(`  ${hives} hives on ${queenCount} queens (${heldBy(views[0], queens).join(" / ")}), every queen lists all after ${((performance.now() - joined) / 1000).toFixed(1)} s`);
    await sleep(warmupMs);

    // 1 + 4: etcd writes over a steady window, while two Watches time the same hives' reports.
    const [victim, owner, other] = queens;
    const sample = [...views[0]].filter(([, h]) => h.owner === owner.id).map(([id]) => id).slice(0, sampleSize);
    const atOwner = new WorkerArrivals(owner.client, sample);
    const atOther = new WorkerArrivals(other.client, sample);
    await Promise.all([atOwner.start(), atOther.start()]);
    atOwner.clear();
    atOther.clear();
    const e0 = await etcdWriteCounters(etcd.address);
    await fleet.call("window");
    const w0 = performance.now();
    await sleep(windowMs);
    const e1 = await etcdWriteCounters(etcd.address);
    const windowS = (performance.now() - w0) / 1000;
    const load = await fleet.call<WindowStats>("window");
    await Promise.all([atOwner.stop(), atOther.stop()]);
    const d = counterDelta(e0, e1);
    const per10 = (n: number) => n / hives / (windowS / 10);
    ctx.log(`  steady ${windowS.toFixed(1)} s: etcd revision +${d.revision}, puts ${d.puts}, deletes ${d.deletes}, txns ${d.txns}, lease renewals ${d.leaseRenewals}; ${load.ackRate.toFixed(0)} reports/s acked, ack p99 ${load.latencyMs.p99.toFixed(1)} ms`);
    const cmp = compareArrivals(atOwner.arrivals, atOther.arrivals);
    const lag = summarize(cmp.lagMs);
    const ownerAge = summarize(cmp.ownerAgeMs);
    const otherAge = summarize(cmp.otherAgeMs);
    ctx.log(`  staleness (${sample.length} hives of ${owner.id}, at ${other.id}): ${lag.count} reports seen at both, lag p50 ${lag.p50.toFixed(0)} ms p99 ${lag.p99.toFixed(0)} ms; ${cmp.unseenAtOther} coalesced away at ${other.id}`);

    // 3: FindWorkers, the same queries at the owner of the hives they target and at another queen.
    const sampleIndex = sample.map((id) => Number(id.slice(1)));
    const queries = sampleIndex.map((h) => ({ model: modelOf(h, 0, fleetConfig), limit: 10 }));
    await findWorkersAtBoth(owner.client, other.client, queries, Math.min(100, fwRounds));
    const fw = await findWorkersAtBoth(owner.client, other.client, queries, fwRounds);
    const fwOwner = summarize(fw.a);
    const fwOther = summarize(fw.b);
    ctx.log(`  FindWorkers ×${fwRounds}: at ${owner.id} (owner) p50 ${fwOwner.p50.toFixed(2)} ms p99 ${fwOwner.p99.toFixed(2)} ms; at ${other.id} p50 ${fwOther.p50.toFixed(2)} ms p99 ${fwOther.p99.toFixed(2)} ms; matches ${fw.matchesA} vs ${fw.matchesB}`);

    // 2: kill -9 of the queen holding a third of the hives.
    const survivors = queens.filter((q) => q !== victim);
    const before = await hivesAt(survivors[0].client);
    const moving = [...before].filter(([, h]) => h.owner === victim.id).map(([id]) => id);
    const churn = survivors.map((q) => new ChurnWatch(q.client));
    for (const c of churn) c.watched = new Set(moving);
    await Promise.all(churn.map((c) => c.start()));
    const survivorIds = new Set(survivors.map((q) => q.id));
    const claimedAt: (number | undefined)[] = survivors.map(() => undefined);
    const t0 = performance.now();
    victim.child.kill("SIGKILL");
    while (performance.now() - t0 < Math.max(failoverDeadlineMs, observeMs)) {
      await Promise.all(survivors.map(async (q, i) => {
        if (claimedAt[i] !== undefined) return;
        const view = await hivesAt(q.client, 2_000).catch(() => undefined);
        if (view && moving.every((id) => survivorIds.has(view.get(id)?.owner ?? "") && view.get(id)?.connected)) claimedAt[i] = performance.now() - t0;
      }));
      const elapsed = performance.now() - t0;
      if (claimedAt.some((t) => t === undefined) && elapsed > failoverDeadlineMs) break;
      if (claimedAt.every((t) => t !== undefined) && elapsed > observeMs) break;
      await sleep(POLL_MS);
    }
    const fleetState = await fleet.call<{ reconnects: Reconnect[]; gaveUp: number; connected: number }>("state");
    await Promise.all(churn.map((c) => c.stop()));
    const failoverS = claimedAt.every((t) => t !== undefined) ? Math.max(...(claimedAt as number[])) / 1000 : NaN;
    const downOrRemoved = churn.reduce((n, c) => n + c.down + c.removed + c.workersRemoved, 0);
    const degraded = churn.reduce((n, c) => n + c.degraded, 0);
    const reconnectMs = summarize(fleetState.reconnects.map((r) => r.ms));
    const observedS = (performance.now() - t0) / 1000;
    ctx.log(`  kill -9 ${victim.id} (${moving.length} hives): held by survivors at ${claimedAt.map((t, i) => `${survivors[i].id} ${t === undefined ? "never" : (t / 1000).toFixed(2) + " s"}`).join(", ")}; hives reconnected p50 ${reconnectMs.p50.toFixed(0)} ms max ${reconnectMs.max.toFixed(0)} ms; DOWN/REMOVED events ${downOrRemoved}, DEGRADED ${degraded} (watched ${observedS.toFixed(0)} s); gave up ${fleetState.gaveUp}`);

    ctx.extras["multi-queen"] = { hives, queens: queenCount, windowS, etcd: d, load, staleness: { lag, ownerAge, otherAge, unseenAtOther: cmp.unseenAtOther, sample }, findWorkers: { owner: fwOwner, other: fwOther, rounds: fwRounds }, failover: { victim: victim.id, moving: moving.length, claimedAtMs: claimedAt, reconnects: fleetState.reconnects, gaveUp: fleetState.gaveUp, churn: churn.map((c) => ({ down: c.down, removed: c.removed, workersRemoved: c.workersRemoved, degraded: c.degraded, errors: c.errors })) } };
    const shape = `${hives} hives × ${fleetConfig.workers} workers × ${fleetConfig.gpus} GPUs at 1 Hz on ${queenCount} queens, one etcd`;
    return [
      figureResult({ figure: "multi-queen", name: "Several queens: etcd writes per hive per 10 s, steady state", runs: [per10(d.revision)], unit: "", goal: "≤ 1", goalValue: 1, higherIsBetter: false, notes: `${shape}; etcd's revision +${d.revision} in ${windowS.toFixed(0)} s (puts ${d.puts}, deletes ${d.deletes}, multi-op txns ${d.txns})` }),
      infoResult("multi-queen", "Several queens: lease keep-alives per 10 s, all queens together (not KV writes)", [d.leaseRenewals / (windowS / 10)], "", `etcd_debugging_lease_renewed_total +${d.leaseRenewals}; one lease per queen`),
      figureResult({ figure: "multi-queen", name: `Several queens: failover after kill -9 of the queen holding ${moving.length} hives, until every one is held by a survivor`, runs: [failoverS], unit: "s", goal: "≤ 5 s", goalValue: 5, higherIsBetter: false, notes: `seen by ListHives every ${POLL_MS} ms at ${claimedAt.map((t, i) => `${survivors[i].id} ${t === undefined ? "never" : (t / 1000).toFixed(2) + " s"}`).join(", ")}; hives back on a queen p50 ${(reconnectMs.p50 / 1000).toFixed(2)} s, max ${(reconnectMs.max / 1000).toFixed(2)} s` }),
      figureResult({ figure: "multi-queen", name: "Several queens: hives or workers shown DOWN or REMOVED at the survivors during the failover", runs: [downOrRemoved], unit: "", goal: "0", goalValue: 0, higherIsBetter: false, notes: `Watch of every hive and worker at each survivor for ${observedS.toFixed(0)} s from the kill; DEGRADED events ${degraded}` }),
      infoResult("multi-queen", "Several queens: FindWorkers p50 at a non-owning queen ÷ at the owning one", [fwOther.p50 / fwOwner.p50], "", `${fwRounds} queries each, alternating; owner p50 ${fwOwner.p50.toFixed(2)} ms p99 ${fwOwner.p99.toFixed(2)} ms, non-owner p50 ${fwOther.p50.toFixed(2)} ms p99 ${fwOther.p99.toFixed(2)} ms`),
      infoResult("multi-queen", "Several queens: FindWorkers p99 at a non-owning queen ÷ at the owning one", [fwOther.p99 / fwOwner.p99], "", `model of one of the owner's hives, limit 10 (${(fw.matchesA / fwRounds).toFixed(1)} matches per answer)`),
      figureResult({ figure: "multi-queen", name: "Several queens: telemetry staleness, a non-owning queen's Watch behind the owner's, p99", runs: [lag.p99], unit: "ms", goal: "< 2000 ms", goalValue: 2000, higherIsBetter: false, notes: `${lag.count} reports of ${sample.length} hives seen at both; p50 ${lag.p50.toFixed(0)} ms; age at arrival p50/p99 owner ${ownerAge.p50.toFixed(0)}/${ownerAge.p99.toFixed(0)} ms, non-owner ${otherAge.p50.toFixed(0)}/${otherAge.p99.toFixed(0)} ms; ${cmp.unseenAtOther} coalesced at the non-owner` }),
    ];
  } finally {
    if (fleetChild) {
      await new ChildRpc(fleetChild).call("stop", {}, 15_000).catch(() => {});
      await stopChild(fleetChild, 5_000);
    }
    await Promise.all(queens.map((q) => q.stop()));
    await etcd.stop();
  }
}

async function startEtcdQueen(queenId: string, etcdAddress: string, leaseTtlMs: number): Promise<QueenChild> {
  const queen = await startEtcdQueenProcess(queenId, `http://${etcdAddress}`, { leaseTtlMs });
  return { ...queen, client: queenClient(queen.address) };
}

/** Polls ListHives at every queen until each view satisfies `check`; throws, naming `what`, after timeoutMs. */
async function untilEveryQueen(queens: QueenChild[], check: (v: Map<string, HiveView>) => boolean, what: string, timeoutMs: number): Promise<Map<string, HiveView>[]> {
  const deadline = performance.now() + timeoutMs;
  let last: Map<string, HiveView>[] = [];
  while (performance.now() < deadline) {
    last = await Promise.all(queens.map((q) => hivesAt(q.client).catch(() => new Map<string, HiveView>())));
    if (last.every(check)) return last;
    await sleep(200);
  }
  throw new Error(`${what}: not at every queen within ${timeoutMs} ms (they list ${last.map((v) => v.size).join(", ")} hives)`);
}

function heldBy(view: Map<string, HiveView>, queens: QueenChild[]): string[] {
  return queens.map((q) => `${q.id} ${[...view.values()].filter((h) => h.owner === q.id).length}`);
}
