import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { WatchRequestSchema, WatchResponseSchema, type WatchResponse } from "../../../gen/apiary/v1/queen_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { TestHive } from "../helpers/test-hive.js";
import { eventsOf, expectedState, stateDifferences, WatchedState } from "../helpers/watched-state.js";

let queen: Queen | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await queen?.close();
});

describe("batched Watch", () => {
  it("batched and unbatched watchers end with the same state; a batch carries a report's changes in one message", async () => {
    const started = await startTestQueen();
    queen = started.queen;
    const { client } = started;
    const hives = [await TestHive.connect(queen.url, "h1"), await TestHive.connect(queen.url, "h2")];
    for (const h of hives) cleanups.push(() => h.abort());
    for (const h of hives) await h.reportSynthetic({ workers: 8, gpus: 2 });
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    const follow = (maxBatch: number) => {
      const state = new WatchedState();
      const messages: WatchResponse[] = [];
      const stream = client.watch({ maxBatch, bookmarkInterval: { nanos: 100_000_000 } }, { signal: abort.signal })[Symbol.asyncIterator]();
      const until = async (revision: bigint) => {
        while (state.resumeAt < revision) {
          const r = await stream.next();
          if (r.done) throw new Error("watch ended");
          state.apply(r.value);
          messages.push(r.value);
        }
      };
      return { state, messages, until };
    };
    const plain = follow(0);
    const batched = follow(64);
    const small = follow(3);
    for (let tick = 1; tick <= 5; tick++) {
      for (const h of hives) await h.reportSynthetic({ workers: tick === 3 ? 5 : 8, gpus: 2, tick });
    }
    const final = BigInt(queen.registry.revision());
    await Promise.all([plain.until(final), batched.until(final), small.until(final)]);
    const want = expectedState((await client.listHives({})).hives, {});
    for (const w of [plain, batched, small]) expect(stateDifferences(w.state, want)).toEqual([]);

    expect(plain.messages.every((m) => m.kind.case !== "batch")).toBe(true);
    const batches = batched.messages.filter((m) => m.kind.case === "batch");
    expect(batched.messages.filter((m) => m.kind.case === "hive" || m.kind.case === "worker")).toEqual([]);
    // The snapshot (2 hives + 16 workers) in one batch, then about one message per report.
    expect(batches[0].snapshot).toBe(true);
    expect(eventsOf(batches[0])).toHaveLength(18);
    const events = (ms: WatchResponse[]) => ms.reduce((n, m) => n + eventsOf(m).length, 0);
    expect(batches.length).toBeLessThan(events(batches) / 4);
    expect(Math.max(...small.messages.map((m) => eventsOf(m).length))).toBe(3);
    for (const m of batches) {
      if (m.kind.case !== "batch") continue;
      const revisions = m.kind.value.events.map((e) => e.revision);
      if (!m.snapshot) expect(revisions.every((r) => r > 0n)).toBe(true);
    }
  });

  it("never reaches a client built from the old protos (grpc-js, no max_batch)", async () => {
    const started = await startTestQueen();
    queen = started.queen;
    const hive = await TestHive.connect(queen.url, "h1");
    cleanups.push(() => hive.abort());
    await hive.reportSynthetic({ workers: 4, gpus: 1 });
    const grpcClient = new grpc.Client(new URL(queen.url).host, grpc.credentials.createInsecure());
    cleanups.push(() => grpcClient.close());
    // The request as an old client encodes it: no field 10 (nor 11: empty bytes are not written).
    const request = Buffer.from(toBinary(WatchRequestSchema, { $typeName: "apiary.v1.WatchRequest", sinceRevision: 0n, epoch: "", hiveIds: [], model: "", kinds: [], maxBatch: 0, resumeToken: new Uint8Array() } as never));
    const call = grpcClient.makeServerStreamRequest("/apiary.v1.QueenService/Watch", (b: Buffer) => b, (b: Buffer) => b, request);
    cleanups.push(() => call.cancel());
    const fieldsSeen = new Set<number>();
    let events = 0;
    await new Promise<void>((resolve, reject) => {
      call.on("error", reject);
      call.on("data", (bytes: Buffer) => {
        const reader = new BinaryReader(bytes);
        while (reader.pos < reader.len) {
          const [no, wireType] = reader.tag();
          fieldsSeen.add(no);
          reader.skip(wireType);
        }
        const m = fromBinary(WatchResponseSchema, bytes);
        events += eventsOf(m).length;
        if (m.kind.case === "snapshotEnd") {
          void hive.reportSynthetic({ workers: 4, gpus: 1, tick: 1 });
        } else if (!m.snapshot && m.kind.case === "worker") resolve();
      });
    });
    expect(events).toBeGreaterThan(5);
    // Only the fields the old WatchResponse has (revision, epoch, hive, worker, bookmark, snapshot_end, snapshot),
    // and resume_token (11), bytes an old parser skips: never a batch (10).
    expect([...fieldsSeen].filter((f) => ![1, 2, 3, 4, 5, 6, 7, 11].includes(f))).toEqual([]);
    expect(fieldsSeen.has(4)).toBe(true);
  });
});
