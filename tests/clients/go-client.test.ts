// The Go client (clients/go) against a real queen and hive: stubs from proto/ with protoc-gen-go and
// protoc-gen-go-grpc, built offline from Debian's packaged gRPC sources, its apiary-find example doing
// FindWorkers and Watch, over plaintext and mutual TLS.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientCluster, execFileAsync, REPO } from "./client-cluster.js";
import { JsonLinesProcess } from "./json-lines-process.js";

// A stable build folder: Go's build cache makes every run after the first a relink.
const BUILD_DIR = path.join(REPO, "node_modules/.cache/apiary-go");
const MODEL = "demo/llm";
let apiaryFind = "";

type Line = Record<string, any>;
const keyOf = (w: Line) => `${w.hive_id}/${w.worker_id}`;

function find(queenUrl: string, extra: string[] = []): JsonLinesProcess {
  return new JsonLinesProcess(apiaryFind, ["-queen", queenUrl, "-model", MODEL, "-timeout", "20s", ...extra]);
}

beforeAll(async () => {
  const { stdout } = await execFileAsync("bash", [path.join(REPO, "clients/go/build.sh"), BUILD_DIR], { timeout: 120_000 });
  apiaryFind = stdout.trim().split("\n").at(-1)!;
}, 120_000);

describe("Go client over plaintext", () => {
  let cluster: ClientCluster;
  beforeAll(async () => {
    cluster = await ClientCluster.start({ tls: false });
    await cluster.spawnEngineWorker("g0", MODEL, "1,0", 0);
    await cluster.spawnEngineWorker("g1", MODEL, "2,1", 1);
    await cluster.spawnEngineWorker("elsewhere", "other/llm", "0,0", 0);
  });
  afterAll(async () => cluster?.stop());

  it("FindWorkers answers the model's workers with free VRAM; the Watch snapshot holds the hive and them", async () => {
    const { hiveId } = cluster;
    const want = [`${hiveId}/g0`, `${hiveId}/g1`];
    // Until the hive has reported both workers with their GPUs measured.
    let p: JsonLinesProcess;
    for (let tries = 0; ; tries++) {
      p = find(cluster.queenUrl);
      expect(await p.finished()).toBe(0);
      const workers = (p.lines[0] as Line).find.workers as Line[];
      if (workers.length === 2 && workers.every((w) => w.free_vram_bytes > 0 && w.requests_waiting !== undefined)) break;
      if (tries > 40) throw new Error(`FindWorkers never listed both workers with VRAM and load: ${JSON.stringify(p.lines[0])}`);
      await new Promise((r) => setTimeout(r, 250)); // a fresh process per try: this polls the queen for a report no event announces
    }
    const found = (p.lines[0] as Line).find;
    expect(found.workers.map(keyOf).sort()).toEqual(want);
    expect(found.workers[0].free_vram_bytes).toBeGreaterThanOrEqual(found.workers[1].free_vram_bytes); // MOST_FREE_VRAM
    expect(found.workers.find((w: Line) => w.worker_id === "g1")).toMatchObject({ state: "WORKER_STATE_RUNNING", requests_running: 2, requests_waiting: 1 });
    const events = p.lines.slice(1);
    expect(events.at(-1)).toMatchObject({ snapshot_end: true });
    expect(events.at(-1)!.epoch).toBeTruthy();
    expect(events.find((e) => e.kind === "hive")).toMatchObject({ type: "EVENT_TYPE_ADDED", hive_id: hiveId, health: "HIVE_HEALTH_HEALTHY", snapshot: true });
    const snapshotWorkers = events.filter((e) => e.kind === "worker").map((e) => keyOf(e.worker));
    expect(snapshotWorkers.sort()).toEqual(want); // the model filter applied on the server
  });

  it("the Watch delivers a live ADDED for a worker spawned after the snapshot", async () => {
    const p = find(cluster.queenUrl, ["-until-added", "late"]);
    await p.waitForLine((l) => l.snapshot_end === true, "the end of the snapshot");
    await cluster.spawnEngineWorker("late", MODEL, "0,0", 1);
    expect(await p.finished()).toBe(0);
    expect(p.lines.at(-1)).toMatchObject({ type: "EVENT_TYPE_ADDED", kind: "worker", snapshot: false, worker: { worker_id: "late", model: MODEL } });
  });
});

describe("Go client over mutual TLS", () => {
  let cluster: ClientCluster;
  beforeAll(async () => {
    cluster = await ClientCluster.start({ tls: true });
    await cluster.spawnEngineWorker("t0", MODEL, "0,0", 0);
  });
  afterAll(async () => cluster?.stop());

  const tlsFlags = () => ["-ca", cluster.tls!.ca, "-cert", cluster.tls!.cert, "-key", cluster.tls!.key];

  it("with the CA and a client certificate it finds and watches the worker, verifying the queen's SPIFFE ID", async () => {
    const p = find(cluster.queenUrl, [...tlsFlags(), "-until-added", "t1"]);
    await p.waitForLine((l) => l.snapshot_end === true, "the end of the snapshot over mTLS");
    await cluster.spawnEngineWorker("t1", MODEL, "0,0", 1);
    expect(await p.finished()).toBe(0);
    expect(cluster.queenUrl).toMatch(/^https:/);
    expect((p.lines[0] as Line).find).toBeDefined();
    expect(p.lines.at(-1)).toMatchObject({ type: "EVENT_TYPE_ADDED", snapshot: false, worker: { worker_id: "t1" } });
  });

  it("refuses a queen whose certificate names another identity", async () => {
    const p = find(cluster.queenUrl, [...tlsFlags(), "-server-id", "spiffe://apiary/queen/other"]);
    expect(await p.finished()).toBe(1);
    expect(p.stderr).toContain("server identity [spiffe://apiary/queen/main] is not spiffe://apiary/queen/other");
  });

  it("without a client certificate the queen answers Unauthenticated", async () => {
    const p = find(cluster.queenUrl, ["-ca", cluster.tls!.ca]);
    expect(await p.finished()).toBe(1);
    expect(p.stderr).toContain("Unauthenticated");
  });
});
