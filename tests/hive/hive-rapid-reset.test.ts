import type { Socket } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StreamWorkerLogsRequestSchema } from "../../gen/apiary/v1/hive_pb.js";
import { startHive, type Hive } from "../../src/hive/hive.js";
import { grpcCall, hello, ping, pingAcked, rawConnect, rstStream } from "../hostile/support/raw-h2.js";
import { tempDir } from "./hive-test-helpers.js";

// HTTP/2 rapid reset against the hive's streaming methods: streams opened and reset in one write
// must start no handler (each WatchTelemetry or StreamWorkerLogs handler costs a snapshot or a
// file open; through connect-node, 1,000 of them stalled the hive's loop about a second).

const RESETS = 1_000;
let hive: Hive;
let socket: Socket | undefined;

beforeAll(async () => {
  hive = await startHive({ port: 0, gpuEnabled: false, cgroupMode: "none", stateDir: `${tempDir("apiary-hive-rst-")}/state`, tickIntervalMs: 200, logger: pino({ level: "silent" }) });
});
afterAll(async () => {
  socket?.destroy();
  await hive?.close({ stopWorkers: true });
});

async function startedCalls(): Promise<Record<string, number>> {
  const text = await (await fetch(`${hive.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^apiary_rpc_server_started_total\{[^}]*method="(\w+)"[^}]*\} (\d+)/gm)) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  return out;
}

describe("rapid reset on the hive", () => {
  it("WatchTelemetry and StreamWorkerLogs streams reset with their HEADERS start no handler", async () => {
    const before = await startedCalls();
    socket = await rawConnect(hive.url);
    socket.on("error", () => {});
    const authority = new URL(hive.url).host;
    const logs = toBinary(StreamWorkerLogsRequestSchema, create(StreamWorkerLogsRequestSchema, { workerId: "none", follow: true }));
    const burst: Buffer[] = [hello()];
    for (let i = 0; i < RESETS; i++) {
      const id = 1 + 2 * i;
      burst.push(i % 2 ? grpcCall(id, "/apiary.v1.HiveService/StreamWorkerLogs", authority, logs) : grpcCall(id, "/apiary.v1.HiveService/WatchTelemetry", authority), rstStream(id));
    }
    const payload = Buffer.from("hive-rst");
    burst.push(ping(payload));
    const acked = pingAcked(socket, payload);
    socket.write(Buffer.concat(burst));
    await acked;
    // One more turn: a call that was going to start has started by now.
    await new Promise((resolve) => setImmediate(resolve));
    const after = await startedCalls();
    const started = (name: string) => (after[name] ?? 0) - (before[name] ?? 0);
    expect({ watchTelemetry: started("WatchTelemetry"), streamWorkerLogs: started("StreamWorkerLogs") }).toEqual({ watchTelemetry: 0, streamWorkerLogs: 0 });
  });
});
