import { appendFileSync, copyFileSync, renameSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HiveService, type StreamWorkerLogsResponse } from "../../../gen/apiary/v1/hive_pb.js";
import { HiveInfoSchema } from "../../../gen/apiary/v1/telemetry_pb.js";
import { create } from "@bufbuild/protobuf";
import { createHiveService } from "../../../src/hive/hive-service.js";
import { LogCheckpoints } from "../../../src/hive/worker-logs/log-checkpoints.js";
import { startRpcServer, type RpcServer } from "../../../src/rpc/server.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { tempDir } from "../hive-test-helpers.js";
import { hivePermissionOf } from "../../../src/hive/hive-permissions.js";
import { queenPermissionOf } from "../../../src/queen/queen-permissions.js";

// The hive side of the log file is what these tests exercise: the RPC server is real, the log files
// are real, and the test writes them as a worker would (appending), then rotates them as logrotate does.
const dir = tempDir("apiary-logs-");
const active = new Set<string>();
const checkpoints = new LogCheckpoints();
const shutdown = new AbortController();
let server: RpcServer;
let client: Client<typeof HiveService>;
const logPath = (id: string): string => join(dir, `${id}.log`);

beforeAll(async () => {
  server = await startRpcServer({
    host: "127.0.0.1",
    port: 0,
    logger: pino({ level: "silent" }),
    services: [
      {
        service: HiveService,
        impl: createHiveService({
          workers: { spawn: () => Promise.reject(new Error("unused")), stop: () => Promise.reject(new Error("unused")), list: () => [] },
          reports: { latest: () => undefined, subscribe: () => () => undefined },
          info: () => create(HiveInfoSchema, { hiveId: "logs-test" }),
          shutdownSignal: shutdown.signal,
          logs: { logPathOf: logPath, isActive: (id) => active.has(id), checkpoints, pollMs: 20 },
        }),
      },
    ],
  });
  client = createClient(HiveService, createApiaryTransport(server.url));
});

afterAll(async () => {
  shutdown.abort();
  await server?.close();
});

/** Reads a followed stream chunk by chunk until `done` says the text so far is enough. */
async function readUntil(
  stream: AsyncIterable<StreamWorkerLogsResponse>,
  done: (text: string, chunks: StreamWorkerLogsResponse[]) => boolean,
): Promise<{ text: string; chunks: StreamWorkerLogsResponse[] }> {
  let text = "";
  const chunks: StreamWorkerLogsResponse[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    text += Buffer.from(chunk.data).toString("utf8");
    if (done(text, chunks)) break;
  }
  return { text, chunks };
}

async function readAll(stream: AsyncIterable<StreamWorkerLogsResponse>) {
  return readUntil(stream, () => false);
}

describe("StreamWorkerLogs", () => {
  it("sends the whole log in chunks no larger than max_chunk_bytes", async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${"x".repeat(i % 97)}`);
    writeFileSync(logPath("big"), lines.join("\n") + "\n");
    const { text, chunks } = await readAll(client.streamWorkerLogs({ workerId: "big", maxChunkBytes: 4096 }));
    expect(text).toBe(lines.join("\n") + "\n");
    expect(chunks.length).toBeGreaterThan(50);
    for (const chunk of chunks) expect(chunk.data.length).toBeLessThanOrEqual(4096);
    expect(chunks.map((c) => Number(c.offset))).toEqual(chunks.map((_, i) => chunks.slice(0, i).reduce((n, c) => n + c.data.length, 0)));
  });

  it("sends only the last N lines with tail_lines, a last line without newline included", async () => {
    writeFileSync(logPath("tail"), "a\nb\nc\nd\ne\n");
    expect((await readAll(client.streamWorkerLogs({ workerId: "tail", tailLines: 2 }))).text).toBe("d\ne\n");
    appendFileSync(logPath("tail"), "partial");
    expect((await readAll(client.streamWorkerLogs({ workerId: "tail", tailLines: 2 }))).text).toBe("e\npartial");
    expect((await readAll(client.streamWorkerLogs({ workerId: "tail", tailLines: 100 }))).text).toBe("a\nb\nc\nd\ne\npartial");
    expect((await readAll(client.streamWorkerLogs({ workerId: "tail", tailLines: 0 }))).text).toBe("");
  });

  it("sends output written since a time, by the hive's size checkpoints, then tails within it", async () => {
    const path = logPath("since");
    writeFileSync(path, "old 1\nold 2\n");
    const now = Date.now();
    checkpoints.record(path, 12, now - 120_000); // the hive saw 12 bytes two minutes ago
    appendFileSync(path, "new 1\nnew 2\nnew 3\n");
    checkpoints.record(path, 30, now - 1000);
    expect((await readAll(client.streamWorkerLogs({ workerId: "since", since: durationFromMs(60_000) }))).text).toBe("new 1\nnew 2\nnew 3\n");
    expect((await readAll(client.streamWorkerLogs({ workerId: "since", since: durationFromMs(60_000), tailLines: 1 }))).text).toBe("new 3\n");
    // Older than every checkpoint: the hive cannot tell, so it sends everything (never less than asked).
    expect((await readAll(client.streamWorkerLogs({ workerId: "since", since: durationFromMs(600_000) }))).text).toBe("old 1\nold 2\nnew 1\nnew 2\nnew 3\n");
    // Not written since: the file's mtime says so, nothing is sent.
    const quiet = logPath("quiet");
    writeFileSync(quiet, "long ago\n");
    const { utimesSync } = await import("node:fs");
    utimesSync(quiet, new Date(now - 3600_000), new Date(now - 3600_000));
    expect((await readAll(client.streamWorkerLogs({ workerId: "quiet", since: durationFromMs(60_000) }))).text).toBe("");
  });

  it("follows new output, across a copytruncate and a rotation by rename, and ends when the worker has ended", async () => {
    const path = logPath("follow");
    writeFileSync(path, "one\n");
    active.add("follow");
    const stream = client.streamWorkerLogs({ workerId: "follow", follow: true })[Symbol.asyncIterator]();
    const next = async (): Promise<StreamWorkerLogsResponse> => (await stream.next()).value as StreamWorkerLogsResponse;
    const text = (c: StreamWorkerLogsResponse): string => Buffer.from(c.data).toString();

    expect(text(await next())).toBe("one\n");
    appendFileSync(path, "two\n");
    const two = await next();
    expect([text(two), Number(two.offset), two.restarted]).toEqual(["two\n", 4, false]);

    // logrotate copytruncate: the content is copied away, the file cut to 0, the worker keeps appending.
    copyFileSync(path, `${path}.1`);
    truncateSync(path, 0);
    // 6 bytes, fewer than the 8 already read: the shrink is seen whenever the reader looks.
    appendFileSync(path, "three\n");
    const three = await next();
    expect([text(three), Number(three.offset), three.restarted]).toEqual(["three\n", 0, true]);

    // Rotation by rename: the old file is read to its end, then the new one from its start.
    renameSync(path, `${path}.2`);
    appendFileSync(`${path}.2`, "four (old file)\n");
    writeFileSync(path, "five (new file)\n");
    const { text: rotated, chunks } = await readUntil({ [Symbol.asyncIterator]: () => stream }, (t) => t.includes("five"));
    expect(rotated).toBe("four (old file)\nfive (new file)\n");
    expect(chunks.at(-1)!.restarted).toBe(true);

    appendFileSync(path, "six\n");
    active.delete("follow"); // the worker ended: what is left is sent, then the stream ends
    const rest = await readAll({ [Symbol.asyncIterator]: () => stream });
    expect(rest.text).toBe("six\n");
  });

  it("answers INVALID_ARGUMENT naming the field, and NOT_FOUND for a worker without a log", async () => {
    const codeOf = async (call: AsyncIterable<unknown>) => {
      try {
        for await (const _ of call) void _;
        return undefined;
      } catch (err) {
        return ConnectError.from(err);
      }
    };
    expect(await codeOf(client.streamWorkerLogs({ workerId: "" }))).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^worker_id: /) });
    expect(await codeOf(client.streamWorkerLogs({ workerId: "../etc" }))).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^worker_id: /) });
    expect(await codeOf(client.streamWorkerLogs({ workerId: "x", maxChunkBytes: 0 }))).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^max_chunk_bytes: /) });
    expect(await codeOf(client.streamWorkerLogs({ workerId: "x", maxChunkBytes: 2 << 20 }))).toMatchObject({ code: Code.InvalidArgument });
    expect(await codeOf(client.streamWorkerLogs({ workerId: "x", since: { seconds: -1n } }))).toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^since: /) });
    expect(await codeOf(client.streamWorkerLogs({ workerId: "nobody" }))).toMatchObject({ code: Code.NotFound, rawMessage: expect.stringMatching(/^worker_id: /) });
  });

  it("is a read under the authorisation policy, like ListWorkers; ListEvents is a queen read", () => {
    expect(hivePermissionOf("apiary.v1.HiveService", "StreamWorkerLogs")).toBe("read");
    expect(queenPermissionOf("apiary.v1.QueenService", "ListEvents")).toBe("authenticated");
  });
});
