import { create } from "@bufbuild/protobuf";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { GpuProbeState, GpuProbeStatusSchema, WorkerState, WorkerTelemetrySchema } from "../../../gen/apiary/v1/telemetry_pb.js";
import { EngineScraper, type EngineTarget } from "../../../src/hive/engine/engine-scraper.js";
import { Monitor } from "../../../src/hive/monitor.js";

const vllm = readFileSync(path.join(import.meta.dirname, "fixtures", "vllm-v1-two-ranks.txt"), "utf8");
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real HTTP server on a loopback port; its handler can be swapped between scrapes. */
async function serve(handler: Handler): Promise<{ url: string; set(h: Handler): void; closed: Promise<void> }> {
  let current = handler;
  let markClosed!: () => void;
  const closed = new Promise<void>((r) => (markClosed = r));
  const server = createServer((req, res) => {
    req.socket.on("close", markClosed);
    current(req, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`, set: (h) => (current = h), closed };
}

const text = (body: string): Handler => (_req, res) => res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(body);
const never: Handler = () => {}; // accepts, never answers

describe("EngineScraper", () => {
  it("scrapes every worker concurrently; a slow, a huge and a garbage endpoint are errors of their own worker only", async () => {
    const good = await serve(text(vllm));
    const slow = await serve(never);
    const huge = await serve((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, "x");
      const pump = () => {
        while (res.write(chunk)) if (res.destroyed) return;
        res.once("drain", pump);
      };
      pump();
    });
    const garbage = await serve(text("<html><body>Not Found</body></html>"));
    const down = "http://127.0.0.1:1/metrics";
    const targets: EngineTarget[] = [
      { workerId: "good", url: good.url },
      { workerId: "slow", url: slow.url },
      { workerId: "huge", url: huge.url },
      { workerId: "garbage", url: garbage.url },
      { workerId: "down", url: down },
    ];
    // A deadline generous enough for the good endpoint on a loaded CI machine; the slow one never answers.
    const scraper = new EngineScraper({ targets: () => targets, deadlineMs: 1500, maxBytes: 256 * 1024 });
    const out = await scraper.scrape(); // resolves although `slow` never answers and `huge` never ends

    expect(out.get("good")!.error).toBeUndefined();
    expect(out.get("good")!.load).toMatchObject({ requestsRunning: 5, requestsWaiting: 4, model: "Qwen/Qwen3-8B", stale: false, endpoint: good.url });
    expect(out.get("slow")!.error!.message).toBe(`${slow.url}: no complete answer within 1500 ms`);
    expect(out.get("huge")!.error!.message).toBe(`${huge.url}: response larger than 262144 bytes, cut`);
    expect(out.get("garbage")!.error!.message).toMatch(/HTML, not the Prometheus text format/);
    expect(out.get("down")!.error!.message).toMatch(/ECONNREFUSED/);
    for (const id of ["slow", "huge", "garbage", "down"]) {
      expect(out.get(id)!.error!.source).toBe("engine");
      expect(out.get(id)!.load).toBeUndefined(); // never a good sample: unknown, not zeros
    }
    // The cut connections were really closed by the hive.
    await slow.closed;
    await huge.closed;
  });

  it("after a good sample, a failing scrape reports the last good values as stale with their age", async () => {
    const engine = await serve(text(vllm));
    const scraper = new EngineScraper({ targets: () => [{ workerId: "w", url: engine.url }] });
    const first = (await scraper.scrape()).get("w")!;
    expect(first.load!.stale).toBe(false);
    engine.set(text("this is not an exposition at all\n"));
    const second = (await scraper.scrape()).get("w")!;
    expect(second.error!.message).toMatch(/unreadable line/);
    expect(second.load).toMatchObject({ stale: true, requestsRunning: 5, requestsWaiting: 4 });
    expect(second.load!.kvCacheUsageRatio).toBeCloseTo(0.3, 12);
    expect(Number(second.load!.age!.seconds) * 1000 + second.load!.age!.nanos / 1e6).toBeGreaterThan(0);
    engine.set(text(vllm.replace("vllm:generation_tokens_total{engine=\"0\",model_name=\"Qwen/Qwen3-8B\"} 4000.0", "vllm:generation_tokens_total{engine=\"0\",model_name=\"Qwen/Qwen3-8B\"} 4600.0")));
    const third = (await scraper.scrape()).get("w")!;
    expect(third.error).toBeUndefined();
    expect(third.load!.stale).toBe(false);
    expect(third.load!.generationTokensPerSec).toBeGreaterThan(0); // a delta against the last good sample
  });
});

describe("Monitor with engine scraping", () => {
  it("a slow engine endpoint is cut at its deadline and the report goes out with the other workers' values", async () => {
    const good = await serve(text(vllm));
    const slow = await serve(never);
    const scraper = new EngineScraper({
      targets: () => [
        { workerId: "fast", url: good.url },
        { workerId: "stuck", url: slow.url },
      ],
      deadlineMs: 1000,
    });
    const sampler = {
      sample: async () =>
        ["fast", "stuck", "plain"].map((id, i) => ({ telemetry: create(WorkerTelemetrySchema, { workerId: id, pid: 100 + i, state: WorkerState.RUNNING }), pids: [100 + i] })),
    };
    const gpu = { probe: async () => snapshot, last: () => snapshot };
    const snapshot = { devices: [], processes: [], status: create(GpuProbeStatusSchema, { state: GpuProbeState.NOT_FOUND }), errors: [] };
    // The tick would wait up to 30 s for its sources: the report ends as soon as the scrape deadline cuts the stuck one.
    const monitor = new Monitor({ sampler, gpu, engine: scraper, logger: pino({ level: "silent" }), tickDeadlineMs: 30_000, readMemoryAvailable: async () => 1n });
    const report = await monitor.tick();
    const byId = Object.fromEntries(report.workers.map((w) => [w.workerId, w]));
    expect(byId.fast.engineLoad).toMatchObject({ requestsRunning: 5, stale: false });
    expect(byId.fast.errors).toEqual([]);
    expect(byId.stuck.engineLoad).toBeUndefined();
    expect(byId.stuck.errors.map((e) => [e.source, e.message])).toEqual([["engine", `${slow.url}: no complete answer within 1000 ms`]]);
    expect(byId.plain.engineLoad).toBeUndefined();
    expect(byId.plain.errors).toEqual([]);
    expect(report.errors).toEqual([]);
  });
});
