import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type ServiceImpl } from "@connectrpc/connect";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { EventType, QueenService, WatchRequestSchema, type WatchResponse } from "../../gen/apiary/v1/queen_pb.js";
import { createFailoverTransport } from "../../src/client/failover-transport.js";
import { resumingWatch } from "../../src/client/resuming-watch.js";
import type { Queen } from "../../src/queen/queen.js";
import { startRpcServer } from "../../src/rpc/server.js";
import { createApiaryTransport } from "../../src/rpc/transport.js";
import { startTestQueen } from "../queen/helpers/queen-fixture.js";
import { TestHive } from "../queen/helpers/test-hive.js";
import { ApiaryProcess, runApiary } from "../e2e/helpers/apiary-process.js";
import { waitUntil } from "../helpers/wait.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function queen(): Promise<Queen> {
  const { queen } = await startTestQueen({ reportIntervalMs: 100 });
  cleanups.push(() => queen.close());
  return queen;
}

/** The same two hives on both queens, as two queens of one cluster would show them. */
async function sameHivesOn(...queens: Queen[]): Promise<Map<Queen, { hx: TestHive; hy: TestHive }>> {
  const hives = new Map<Queen, { hx: TestHive; hy: TestHive }>();
  for (const q of queens) {
    const hx = await TestHive.connect(q.url, "hx");
    const hy = await TestHive.connect(q.url, "hy");
    cleanups.push(() => { hx.abort(); hy.abort(); });
    await hx.reportSynthetic({ workers: 2, gpus: 1 });
    await hy.reportSynthetic({ workers: 2, gpus: 1 });
    hives.set(q, { hx, hy });
  }
  return hives;
}

/** What a Watch message says, in one comparable string. */
function said(res: WatchResponse): string {
  if (res.kind.case === "hive") return `${EventType[res.kind.value.type]} hive/${res.kind.value.hive?.info?.hiveId}`;
  if (res.kind.case === "worker") return `${EventType[res.kind.value.type]} worker/${res.kind.value.hiveId}/${res.kind.value.worker?.workerId}`;
  return res.kind.case ?? "";
}

/** A queen that never answers unary calls: each try ends at its deadline. */
async function silentQueen(): Promise<string> {
  const impl: Partial<ServiceImpl<typeof QueenService>> = {
    listHives: (_req, context) => new Promise((_resolve, reject) => context.signal.addEventListener("abort", () => reject(new ConnectError("gone", Code.Canceled)))),
  };
  const server = await startRpcServer({ host: "127.0.0.1", port: 0, logger: pino({ level: "silent" }), services: [{ service: QueenService, impl }], shutdownGraceMs: 100 });
  cleanups.push(() => server.close());
  return server.url;
}

describe("watch across queens", () => {
  it("resumes on the next queen when its queen stops, yielding every REMOVED it missed before that snapshot's end", async () => {
    const a = await queen();
    const b = await queen();
    const hives = await sameHivesOn(a, b);
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    const seen: string[] = [];
    const retries: number[] = [];
    const clients = [a, b].map((q) => createClient(QueenService, createApiaryTransport(q.url)));
    const stream = resumingWatch(clients, create(WatchRequestSchema, {}), { signal: abort.signal, onRetry: (_err, _n, next) => retries.push(next) });
    const iterator = stream[Symbol.asyncIterator]();
    const until = async (what: string) => {
      for (;;) {
        const { value, done } = await iterator.next();
        if (done) throw new Error(`watch ended before ${what}`);
        seen.push(said(value));
        if (seen[seen.length - 1] === what) return;
      }
    };
    await until("snapshotEnd");
    expect(seen.filter((s) => s.startsWith("ADDED hive/"))).toEqual(["ADDED hive/hx", "ADDED hive/hy"]);

    // While the watcher is on A, hx leaves B and hy/w1 ends there; then A stops.
    const onB = hives.get(b)!;
    await onB.hx.goodbye();
    await onB.hy.reportSynthetic({ workers: 1, gpus: 1, tick: 1 });
    seen.length = 0;
    await a.close();
    await until("snapshotEnd");

    expect(retries).toEqual([1]);
    const removed = seen.filter((s) => s.startsWith("REMOVED"));
    expect(removed.sort()).toEqual(["REMOVED hive/hx", "REMOVED worker/hx/w0", "REMOVED worker/hx/w1", "REMOVED worker/hy/w1"]);
    // Every REMOVED comes before the snapshot's end, workers before their hive.
    expect(seen.indexOf("REMOVED worker/hx/w0")).toBeLessThan(seen.indexOf("REMOVED hive/hx"));
    expect(seen.indexOf("REMOVED hive/hx")).toBeLessThan(seen.indexOf("snapshotEnd"));
  });

  it("`apiary watch --queen a,b` prints the REMOVED of a hive evicted on b while it watched a", async () => {
    const a = await queen();
    const b = await queen();
    const hives = await sameHivesOn(a, b);
    const watch = ApiaryProcess.start(["watch", "--queen", `${a.url},${b.url}`, "-o", "name"]);
    cleanups.push(async () => {
      watch.child.kill("SIGTERM");
      await watch.exited;
    });
    await watch.waitFor(/ADDED hive\/hy\n/);
    await hives.get(b)!.hx.goodbye();
    await a.close();
    await watch.waitFor(/REMOVED hive\/hx\n/);
    expect(watch.stdout).toMatch(/REMOVED worker\/hx\/w0\n/);
    expect(watch.stderr).toContain(`lost the queen at ${a.url}`);
    expect(watch.stderr).toContain(`resuming on ${b.url}`);
  });
});

describe("unary calls across queens", () => {
  it("try the next queen on a refused connection or a deadline, each with its own deadline", async () => {
    const dead = await queen();
    const deadUrl = dead.url;
    await dead.close();
    const silent = await silentQueen();
    const live = await queen();
    const hive = await TestHive.connect(live.url, "hz");
    cleanups.push(() => hive.abort());
    const targets = [deadUrl, silent, live.url].map((url) => ({ url, transport: createApiaryTransport(url) }));
    const client = createClient(QueenService, createFailoverTransport(targets));
    const { hives } = await client.listHives({}, { timeoutMs: 500 });
    expect(hives.map((h) => h.info?.hiveId)).toEqual(["hz"]);
  });

  it("list every queen's failure when none answers", async () => {
    const silent = await silentQueen();
    const dead = await queen();
    const deadUrl = dead.url;
    await dead.close();
    const client = createClient(QueenService, createFailoverTransport([silent, deadUrl].map((url) => ({ url, transport: createApiaryTransport(url) }))));
    const error = await client.listHives({}, { timeoutMs: 300 }).then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.rawMessage).toContain(`${silent}: `);
    expect(error?.rawMessage).toContain(`${deadUrl}: `);
  });

  it("`apiary hives --queen dead,live` answers from the live one", async () => {
    const dead = await queen();
    const deadUrl = dead.url;
    await dead.close();
    const live = await queen();
    const hive = await TestHive.connect(live.url, "hl");
    cleanups.push(() => hive.abort());
    await waitUntil(() => live.registry.revision() > 0, "the hive listed");
    const out = await runApiary(["hives", "--queen", `${deadUrl},${live.url}`, "-o", "name"]);
    expect(out.stderr).toBe("");
    expect(out.stdout).toBe("hive/hl\n");
    expect(out.code).toBe(0);
  });
});
