import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { WatchKind } from "../../gen/apiary/v1/queen_pb.js";
import { WorkerState } from "../../gen/apiary/v1/telemetry_pb.js";
import type { Queen } from "../../src/queen/queen.js";
import { startTestQueen } from "../queen/helpers/queen-fixture.js";
import { makeDevice, makeReport, makeWorker } from "../queen/helpers/telemetry-builders.js";
import { TestHive } from "../queen/helpers/test-hive.js";
import { waitFor } from "../helpers/wait.js";
import { find, scrape, valueOf } from "./support/scrape.js";

let queen: Queen | undefined;
const hives: TestHive[] = [];
afterEach(async () => {
  for (const h of hives.splice(0)) h.abort();
  await queen?.close();
  queen = undefined;
});

async function start(perDeviceMetrics = false) {
  const started = await startTestQueen({ perDeviceMetrics, healthyMs: 60_000, degradedMs: 120_000 });
  queen = started.queen;
  return started;
}

describe("the queen's /metrics", () => {
  it("counts hives by health, workers by state, report ages, accepted reports and ack latency; lints clean", async () => {
    const { queen, client } = await start();
    const empty = await scrape(queen.url);
    expect(valueOf(empty.samples, "apiary_queen_hives", { health: "healthy" })).toBe(0);
    expect(valueOf(empty.samples, "apiary_queen_reports_accepted_total")).toBe(0);

    const a = await TestHive.connect(queen.url, "hive-a");
    const b = await TestHive.connect(queen.url, "hive-b");
    hives.push(a, b);
    for (let i = 0; i < 3; i++) await a.report(makeReport(0, [makeDevice("hive-a", 0)], [makeWorker("w1"), makeWorker("w2", { state: WorkerState.STARTING })]));
    await b.report(makeReport(0, [], [makeWorker("w3")]));
    b.abort(); // a broken stream: DEGRADED at once
    await waitFor(() => queen.registry.hive("hive-b")?.connected === false, "hive-b marked disconnected");
    await client.listHives({});

    const { samples } = await scrape(queen.url);
    expect(valueOf(samples, "apiary_queen_hives", { health: "healthy" })).toBe(1);
    expect(valueOf(samples, "apiary_queen_hives", { health: "degraded" })).toBe(1);
    expect(valueOf(samples, "apiary_queen_hives", { health: "down" })).toBe(0);
    expect(valueOf(samples, "apiary_queen_workers", { state: "running" })).toBe(2);
    expect(valueOf(samples, "apiary_queen_workers", { state: "starting" })).toBe(1);
    expect(valueOf(samples, "apiary_queen_reports_accepted_total")).toBe(4);
    expect(valueOf(samples, "apiary_queen_ack_latency_seconds_count")).toBe(4);
    expect(valueOf(samples, "apiary_queen_ack_latency_seconds_sum")).toBeGreaterThan(0);
    const ageA = valueOf(samples, "apiary_queen_hive_last_report_age_seconds", { hive: "hive-a" });
    expect(ageA).toBeGreaterThanOrEqual(0);
    expect(ageA).toBeLessThan(30);
    expect(find(samples, "apiary_queen_hive_last_report_age_seconds")).toHaveLength(2);
    expect(valueOf(samples, "apiary_rpc_server_handled_total", { service: "apiary.v1.QueenService", method: "ListHives", code: "ok" })).toBe(1);
    expect(valueOf(samples, "apiary_rpc_server_handling_seconds_count", { method: "ListHives", code: "ok" })).toBe(1);
    expect(valueOf(samples, "apiary_rpc_server_started_total", { method: "Heartbeat" })).toBe(2);
    // The first sweep is due one sweep interval after start: await it rather than assume it ran.
    await waitFor(async () => valueOf((await scrape(queen.url)).samples, "apiary_queen_sweep_duration_seconds_count") > 0, "a liveness sweep counted");
    expect(valueOf(samples, "apiary_queen_event_loop_delay_max_seconds")).toBeGreaterThanOrEqual(valueOf(samples, "apiary_queen_event_loop_delay_p50_seconds"));
    expect(find(samples, "process_cpu_seconds_total")).toHaveLength(1);
    // Per-GPU and per-worker series stay on the hives unless asked for.
    expect(samples.filter((s) => s.name.startsWith("apiary_gpu_") || s.name.startsWith("apiary_worker_"))).toEqual([]);
  });

  it("counts rejected reports by reason and RPC failures by code", async () => {
    const { queen, client } = await start();
    const hive = await TestHive.connect(queen.url, "hive-bad");
    hives.push(hive);
    await hive.report(makeReport(0, [], [makeWorker("ok")]));
    hive.send({ case: "report", value: makeReport(2, [makeDevice("hive-bad", 0), makeDevice("hive-bad", 0)], []) });
    const err = await hive.next().then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.InvalidArgument);
    await client.getHive({ hiveId: "" }).catch(() => undefined);

    const { samples } = await waitFor(async () => {
      const s = await scrape(queen.url);
      return valueOf(s.samples, "apiary_queen_reports_rejected_total", { reason: "invalid_argument" }) === 1 ? s : undefined;
    }, "the rejected report counted");
    expect(valueOf(samples, "apiary_queen_reports_accepted_total")).toBe(1);
    expect(valueOf(samples, "apiary_rpc_server_handled_total", { method: "Heartbeat", code: "invalid_argument" })).toBe(1);
    expect(valueOf(samples, "apiary_rpc_server_handled_total", { method: "GetHive", code: "invalid_argument" })).toBe(1);
  });

  it("counts Watch resumes by result: replayed, or started over and why", async () => {
    const { queen, client } = await start();
    const hive = await TestHive.connect(queen.url, "hive-r");
    hives.push(hive);
    await hive.report(makeReport(0, [], [makeWorker("w1")]));
    // A stream's last message before it ends: its resume token and revision.
    const lastMessage = async (request: Parameters<typeof client.watch>[0]) => {
      const abort = new AbortController();
      const stream = client.watch(request, { signal: abort.signal })[Symbol.asyncIterator]();
      let m = (await stream.next()).value;
      while (m.kind.case !== "snapshotEnd") m = (await stream.next()).value;
      abort.abort();
      return m;
    };
    const firstOf = async (request: Parameters<typeof client.watch>[0]) => {
      const abort = new AbortController();
      const first = (await client.watch(request, { signal: abort.signal })[Symbol.asyncIterator]().next()).value;
      abort.abort();
      return first;
    };
    const end = await lastMessage({});
    expect((await firstOf({ resumeToken: end.resumeToken })).snapshot).toBe(false); // replayed
    expect((await firstOf({ resumeToken: end.resumeToken, kinds: [WatchKind.HIVE] })).snapshot).toBe(true); // other filters
    const otherEpoch = new TextEncoder().encode(new TextDecoder().decode(end.resumeToken).replace(end.epoch, "another-epoch"));
    expect((await firstOf({ resumeToken: otherEpoch })).snapshot).toBe(true);
    expect((await firstOf({ sinceRevision: end.revision, epoch: end.epoch })).snapshot).toBe(false); // an old client's resume
    const { samples } = await scrape(queen.url);
    expect(valueOf(samples, "apiary_queen_watch_resumes_total", { result: "replayed" })).toBe(2);
    expect(valueOf(samples, "apiary_queen_watch_resumes_total", { result: "filters" })).toBe(1);
    expect(valueOf(samples, "apiary_queen_watch_resumes_total", { result: "epoch" })).toBe(1);
  });

  it("counts open watchers and their queue depth", async () => {
    const { queen, client } = await start();
    const abort = new AbortController();
    const stream = client.watch({}, { signal: abort.signal })[Symbol.asyncIterator]();
    try {
      expect((await stream.next()).value?.kind.case).toBe("snapshotEnd");
      const { samples } = await scrape(queen.url);
      expect(valueOf(samples, "apiary_queen_watchers")).toBe(1);
      expect(valueOf(samples, "apiary_queen_watch_queue_depth", { aggregation: "sum" })).toBe(0);
      expect(valueOf(samples, "apiary_queen_watch_coalesced_total")).toBe(0);
      expect(valueOf(samples, "apiary_queen_watch_overflows_total")).toBe(0);
    } finally {
      abort.abort();
    }
    await waitFor(async () => valueOf((await scrape(queen.url)).samples, "apiary_queen_watchers") === 0, "the watcher gone from /metrics");
  });

  it("re-exports per-GPU and per-worker gauges with perDeviceMetrics, and drops them with the hive", async () => {
    const { queen } = await start(true);
    const hive = await TestHive.connect(queen.url, "hive-d");
    hives.push(hive);
    await hive.report(makeReport(0, [makeDevice("hive-d", 0), makeDevice("hive-d", 1)], [makeWorker("w1", { vramUsedBytes: 5n * 1024n ** 3n })]));
    const { samples } = await scrape(queen.url);
    expect(find(samples, "apiary_gpu_memory_total_bytes", { hive: "hive-d" })).toHaveLength(2);
    expect(valueOf(samples, "apiary_worker_vram_used_bytes", { hive: "hive-d", worker_id: "w1", model: "llama-3-8b" })).toBe(5 * 1024 ** 3);
    await hive.goodbye();
    const after = await scrape(queen.url);
    expect(find(after.samples, "apiary_gpu_memory_total_bytes")).toEqual([]);
    expect(find(after.samples, "apiary_worker_vram_used_bytes")).toEqual([]);
  });
});
