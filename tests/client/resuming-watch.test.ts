import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { WatchRequestSchema, WatchResponseSchema, type WatchResponse } from "../../gen/apiary/v1/queen_pb.js";
import { ClusterState } from "../../src/client/cluster-state.js";
import { resumingWatch, unbatch } from "../../src/client/resuming-watch.js";
import type { Queen } from "../../src/queen/queen.js";
import { startTestQueen } from "../queen/helpers/queen-fixture.js";
import { TestHive } from "../queen/helpers/test-hive.js";

let queen: Queen | undefined;
afterEach(async () => queen?.close());

describe("resumingWatch", () => {
  it("asks for batches and yields one message per event, never the batch case", async () => {
    const started = await startTestQueen();
    queen = started.queen;
    const hive = await TestHive.connect(queen.url, "h1");
    await hive.reportSynthetic({ workers: 8, gpus: 2 });
    const abort = new AbortController();
    const state = new ClusterState();
    const seen: WatchResponse[] = [];
    let ticked = false;
    for await (const res of resumingWatch(started.client, create(WatchRequestSchema, {}), { signal: abort.signal })) {
      seen.push(res);
      state.apply(res);
      if (res.kind.case === "snapshotEnd" && !ticked) {
        ticked = true;
        await hive.reportSynthetic({ workers: 6, gpus: 2, tick: 1 });
      }
      if (ticked && res.revision === BigInt(queen.registry.revision())) break;
    }
    abort.abort();
    hive.abort();
    expect(seen.filter((m) => m.kind.case === "batch")).toEqual([]);
    expect(state.workers.size).toBe(6);
    // The queen sent batches: the live events arrived as one message (so shared revisions).
    const live = seen.filter((m) => !m.snapshot);
    expect(live.length).toBeGreaterThan(2);
    expect(new Set(live.slice(0, -1).map((m) => m.revision)).size).toBe(1);
  });

  it("stamps unbatched events so that every one is a safe place to resume from", () => {
    const batch = create(WatchResponseSchema, {
      revision: 20n,
      epoch: "e",
      kind: {
        case: "batch",
        value: { events: [1, 2, 3].map((i) => ({ revision: BigInt(10 + i), kind: { case: "worker" as const, value: { hiveId: "h", type: 2, worker: { workerId: `w${i}` } } } })) },
      },
    });
    expect([...unbatch(batch, 9n)].map((m) => [m.revision, m.kind.case])).toEqual([
      [9n, "worker"],
      [9n, "worker"],
      [20n, "worker"],
    ]);
  });
});
