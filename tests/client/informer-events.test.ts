import { afterEach, describe, expect, it } from "vitest";
import { Informer } from "../../src/client/informer.js";
import type { InformerChange } from "../../src/client/informer-index.js";
import { startTestQueen } from "../queen/helpers/queen-fixture.js";
import { makeDevice, makeReport, makeWorker } from "../queen/helpers/telemetry-builders.js";
import { TestHive } from "../queen/helpers/test-hive.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const HOUR = 3_600_000;

async function setup() {
  const { queen, client } = await startTestQueen({ healthyMs: HOUR, degradedMs: 2 * HOUR });
  cleanups.push(() => queen.close());
  const hive = await TestHive.connect(queen.url, "h1");
  cleanups.push(() => hive.abort());
  return { queen, client, hive, caughtUp: (informer: Informer) => informer.whenRevision(BigInt(queen.registry.revision())) };
}

const load = (waiting: number, running = 0) => ({ requestsWaiting: waiting, requestsRunning: running, kvCacheUsageRatio: 0.1 });
const workers = (...specs: [string, number][]) => specs.map(([id, waiting]) => makeWorker(id, { model: "m", gpuUuids: ["GPU-h1-0"], engineLoad: load(waiting) }));
const report = (...specs: [string, number][]) => makeReport(0, [makeDevice("h1", 0)], workers(...specs));

function record(informer: Informer): string[] {
  const seen: string[] = [];
  const say = (c: InformerChange) => seen.push(c.kind === "worker" ? `${c.type} worker/${c.worker.key}` : `${c.type} hive/${c.hive.info?.hiveId}`);
  for (const type of ["added", "updated", "removed"] as const) informer.on(type, say);
  return seen;
}

describe("Informer handlers", () => {
  it("fire once per change: the snapshot's objects, each update, each removal, nothing for a repeat", async () => {
    const { hive, client, caughtUp } = await setup();
    await hive.report(report(["w0", 0], ["w1", 0]));
    const informer = new Informer({ queens: client });
    cleanups.push(() => informer.close());
    const seen = record(informer);
    await informer.synced();
    expect(seen.sort()).toEqual(["added hive/h1", "added worker/h1/w0", "added worker/h1/w1"]);

    seen.length = 0;
    await hive.report(report(["w0", 4], ["w1", 0]));
    await caughtUp(informer);
    expect(seen).toEqual(["updated worker/h1/w0"]);
    expect(informer.pick("m")?.key).toBe("h1/w1");

    seen.length = 0;
    await hive.report(report(["w0", 4], ["w1", 0]));
    await hive.report(report(["w0", 4]));
    await caughtUp(informer);
    expect(seen).toEqual(["removed worker/h1/w1"]);

    seen.length = 0;
    await hive.goodbye();
    await caughtUp(informer);
    expect(seen).toEqual(["removed worker/h1/w0", "removed hive/h1"]);
    expect(informer.pick("m")).toBeUndefined();
    expect(informer.workerCount()).toBe(0);
  });

  it("stop after unsubscribing, and a handler that throws neither stops the others nor the informer", async () => {
    const { hive, client, caughtUp } = await setup();
    await hive.report(report(["w0", 0]));
    const errors: string[] = [];
    const informer = new Informer({ queens: client, onHandlerError: (err, c) => errors.push(`${c.type}: ${(err as Error).message}`) });
    cleanups.push(() => informer.close());
    const calls: string[] = [];
    informer.on("updated", () => {
      throw new Error("boom");
    });
    const off = informer.on("updated", (c) => calls.push(c.type));
    await informer.synced();
    await hive.report(report(["w0", 1]));
    await caughtUp(informer);
    off();
    await hive.report(report(["w0", 2]));
    await caughtUp(informer);
    expect(calls).toEqual(["updated"]);
    expect(errors).toEqual(["updated: boom", "updated: boom"]);
    expect(informer.find({ model: "m" }).matches[0].worker?.engineLoad?.requestsWaiting).toBe(2);
  });
});

describe("Informer.pick least-loaded", () => {
  it("spreads picks between two reports by the dispatches recorded, and forgets them when the worker reports", async () => {
    const { hive, client, caughtUp } = await setup();
    await hive.report(report(["w0", 0], ["w1", 0], ["w2", 1]));
    const informer = new Informer({ queens: client });
    cleanups.push(() => informer.close());
    await informer.synced();
    const picks: string[] = [];
    for (let i = 0; i < 6; i++) {
      const w = informer.pick("m")!;
      picks.push(w.worker.workerId);
      informer.recordDispatch(w);
    }
    // w2 has one request waiting: it is picked once w0 and w1 have one dispatched each.
    expect(picks).toEqual(["w0", "w1", "w2", "w0", "w1", "w2"]);
    await hive.report(report(["w0", 3], ["w1", 5], ["w2", 1]));
    await caughtUp(informer);
    // w0 and w1 reported (their dispatches are forgotten), w2's report is unchanged (its two stay).
    expect(informer.candidates("m").map((w) => [w.worker.workerId, w.dispatched])).toEqual(
      expect.arrayContaining([["w0", 0], ["w1", 0], ["w2", 2]]),
    );
    // w0: 3 waiting + 0 dispatched; w2: 1 + 2; the tie goes to the fewer dispatched.
    expect(informer.pick("m")?.worker.workerId).toBe("w0");
  });
});

describe("Informer.staleness", () => {
  it("is live while the stream speaks and not once its only queen is gone; synced() rejects when closed first", async () => {
    const { queen, client } = await setup();
    let retried!: () => void;
    const lost = new Promise<void>((resolve) => (retried = resolve));
    const informer = new Informer({ queens: client, bookmarkIntervalMs: 100, onRetry: () => retried() });
    cleanups.push(() => informer.close());
    expect(informer.staleness()).toMatchObject({ synced: false, live: false, sinceLastMessageMs: Infinity });
    await informer.synced();
    expect(informer.staleness()).toMatchObject({ synced: true, live: true });
    await queen.close();
    await lost;
    expect(informer.staleness()).toMatchObject({ synced: true, live: false });

    const never = new Informer({ queens: client });
    await never.close();
    await expect(never.synced()).rejects.toThrow("closed before its first snapshot");
  });
});
