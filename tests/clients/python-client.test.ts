// The Python client (clients/python) against a real queen and hive: its stubs generated from proto/
// with Debian's protoc, its informer and pick() run by the example scheduler, over plaintext and mTLS.
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { waitFor } from "../helpers/wait.js";
import { ClientCluster, execFileAsync, REPO } from "./client-cluster.js";
import { JsonLinesProcess } from "./json-lines-process.js";

const PYTHON = "/usr/bin/python3"; // Debian's, where python3-grpcio and python3-protobuf are installed
const CLIENT = path.join(REPO, "clients/python");
const SCHEDULER = path.join(CLIENT, "examples/scheduler.py");
const MODEL = "demo/llm";

type Line = Record<string, any>;
const pickOf = (line: Line) => (line.pick ? `${line.pick.hive_id}/${line.pick.worker_id}` : undefined);

function scheduler(queenUrl: string, extra: string[] = []): JsonLinesProcess {
  return new JsonLinesProcess(PYTHON, [SCHEDULER, "--queen", queenUrl, "--model", MODEL, "--interval", "0.1", ...extra]);
}

beforeAll(async () => {
  await execFileAsync("bash", [path.join(CLIENT, "generate.sh")]);
});

describe("Python client over plaintext", () => {
  let cluster: ClientCluster;
  beforeAll(async () => {
    cluster = await ClientCluster.start({ tls: false });
    await cluster.spawnEngineWorker("busy", MODEL, "4,3", 0);
    await cluster.spawnEngineWorker("idle", MODEL, "1,0", 1);
    await cluster.spawnEngineWorker("other", "other/llm", "0,0", 0);
    // The scheduler's FindWorkers is one call at its start: the hive must have reported both workers by then.
    const queen = createClient(QueenService, createApiaryTransport(cluster.queenUrl));
    await waitFor(async () => (await queen.findWorkers({ model: MODEL })).matches.length === 2, "the queen listing both workers of the model", 30_000);
  });
  afterAll(async () => cluster?.stop());

  it("passes its unit tests (pick policies, snapshot replacement, resume point)", async () => {
    const { stderr } = await execFileAsync(PYTHON, ["-m", "unittest", "discover", "-s", path.join(CLIENT, "tests")]);
    expect(stderr).toMatch(/Ran [1-9]\d* tests?[\s\S]*\nOK\n?$/);
  });

  it("FindWorkers lists the hive's workers of the model; least-loaded picks the idle one and follows a load change", async () => {
    const { hiveId } = cluster;
    const s = scheduler(cluster.queenUrl);
    try {
      // Both workers with engine readings: the hive has scraped them.
      const ready = await s.waitForLine((l: Line) => l.candidates === 2 && l.with_load === 2, "a pick among both workers with their load", 30_000);
      const find = s.lines.find((l) => l.find) as Line;
      expect(find.find.workers.map((w: Line) => `${w.hive_id}/${w.worker_id}`).sort()).toEqual([`${hiveId}/busy`, `${hiveId}/idle`]);
      expect(pickOf(ready)).toBe(`${hiveId}/idle`);
      expect(ready.pick).toMatchObject({ requests_waiting: 0, requests_running: 1, model: MODEL });
      expect(ready.pick.free_vram_bytes).toBeGreaterThan(0);
      // The idle worker starts queueing: the next reports move the pick to the other worker.
      await cluster.setLoad("idle", "8,5");
      const moved = await s.waitForLine((l: Line) => l !== ready && pickOf(l) === `${hiveId}/busy`, "the pick moving to the busy worker", 20_000);
      expect(moved.pick).toMatchObject({ requests_waiting: 3, requests_running: 4 });
      expect(moved.streams_opened).toBe(1); // one Watch stream carried every change
    } finally {
      await s.kill();
    }
  });

  it("most-free-vram picks a worker with the most free GPU memory of the two", async () => {
    const s = scheduler(cluster.queenUrl, ["--policy", "most-free-vram", "--count", "1"]);
    expect(await s.finished()).toBe(0);
    const line = s.lines.at(-1) as Line;
    expect(line.candidates).toBe(2);
    expect(line.pick.free_vram_bytes).toBeGreaterThan(0);
  });

  it("the informer sees a live REMOVED, and after a queen restart resyncs, removing what the new snapshot lacks", async () => {
    const { hiveId } = cluster;
    await cluster.spawnEngineWorker("extra", MODEL, "0,9", 1);
    await cluster.spawnEngineWorker("leaves", MODEL, "0,9", 0);
    const s = scheduler(cluster.queenUrl, ["--changes", "--max-backoff", "0.5"]);
    try {
      const first = await s.waitForLine((l: Line) => l.candidates === 4, "the four workers in the cache", 30_000);
      await cluster.stopWorker("extra");
      await s.waitForLine((l: Line) => l.change === "removed" && l.worker.worker_id === "extra", "a live REMOVED of the stopped worker");
      // The queen goes away; while it is down a worker stops; a new queen (a new epoch) comes up on the same port.
      await cluster.stopQueen();
      await cluster.stopWorker("leaves");
      await cluster.startQueen(cluster.queenPort);
      const removed = await s.waitForLine((l: Line) => l.change === "removed" && l.worker.worker_id === "leaves", "REMOVED of the worker the new snapshot lacks", 30_000);
      expect(removed.worker.hive_id).toBe(hiveId);
      const after = await s.waitForLine((l: Line) => l.epoch !== first.epoch && l.candidates === 2, "picks from the new queen's snapshot", 30_000);
      expect(after.streams_opened).toBeGreaterThan(1);
      expect(pickOf(after)).toMatch(new RegExp(`^${hiveId}/(busy|idle)$`));
    } finally {
      await s.kill();
    }
  });
});

describe("Python client over mutual TLS", () => {
  let cluster: ClientCluster;
  beforeAll(async () => {
    cluster = await ClientCluster.start({ tls: true });
    await cluster.spawnEngineWorker("a", MODEL, "2,2", 0);
    await cluster.spawnEngineWorker("b", MODEL, "1,0", 1);
  });
  afterAll(async () => cluster?.stop());

  it("connects with the CA and a client certificate and picks the least loaded worker", async () => {
    const tls = cluster.tls!;
    const s = scheduler(cluster.queenUrl, ["--ca", tls.ca, "--cert", tls.cert, "--key", tls.key]);
    try {
      const line = await s.waitForLine((l: Line) => l.candidates === 2 && l.with_load === 2, "a pick over mTLS", 30_000);
      expect(cluster.queenUrl).toMatch(/^https:/);
      expect(pickOf(line)).toBe(`${cluster.hiveId}/b`);
    } finally {
      await s.kill();
    }
  });

  it("without a client certificate the queen answers UNAUTHENTICATED", async () => {
    const s = scheduler(cluster.queenUrl, ["--ca", cluster.tls!.ca, "--count", "1", "--timeout", "10"]);
    expect(await s.finished()).not.toBe(0);
    expect(s.stderr).toContain("UNAUTHENTICATED");
  });
});
