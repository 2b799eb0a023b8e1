import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeartbeatRequestSchema, type QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import type { Queen } from "../../../src/queen/queen.js";
import { AsyncQueue } from "../helpers/async-queue.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { makeHiveInfo } from "../helpers/telemetry-builders.js";

let queen: Queen;
let client: Client<typeof QueenService>;

beforeAll(async () => {
  ({ queen, client } = await startTestQueen({}));
});
afterAll(async () => {
  await queen.close();
});

/** A hello advertising `endpoint`, on a fresh Heartbeat stream; the stream's error, if any. */
async function helloWith(hiveId: string, endpoint: string): Promise<ConnectError | undefined> {
  const queue = new AsyncQueue<ReturnType<typeof create<typeof HeartbeatRequestSchema>>>();
  queue.push(create(HeartbeatRequestSchema, { kind: { case: "hello", value: { hive: { ...makeHiveInfo(hiveId), endpoint }, incarnation: "i" } } }));
  queue.end();
  try {
    for await (const _ of client.heartbeat(queue)) void _;
    return undefined;
  } catch (err) {
    return ConnectError.from(err);
  }
}

describe("hello.hive.endpoint is validated as a URL clients will dial", () => {
  it.each([
    ["file:///etc/passwd", /scheme must be http or https, got file/],
    ["gpu-1.lan:7835", /scheme must be http or https|is not a URL/],
    ["not a url", /is not a URL/],
    ["https://user:pw@gpu-1.lan:7835", /must not carry credentials/],
    ["https://gpu-1.lan:7835/steal?x=1", /no path, query or fragment/],
    ["https://gpu-1.lan", /must give a port/],
  ])("refuses %s with INVALID_ARGUMENT naming the field", async (endpoint, problem) => {
    const err = await helloWith("bad-endpoint", endpoint);
    expect(err && Code[err.code]).toBe("InvalidArgument");
    expect(err!.rawMessage).toMatch(/^hello\.hive\.endpoint: /);
    expect(err!.rawMessage).toMatch(problem);
    expect((await client.listHives({})).hives.map((h) => h.info?.hiveId)).not.toContain("bad-endpoint");
  });

  it.each(["https://gpu-1.lan:7835", "http://127.0.0.1:7835/", "https://[::1]:7835", ""])("accepts %j", async (endpoint) => {
    const err = await helloWith("good-endpoint", endpoint);
    expect(err?.rawMessage ?? "").not.toMatch(/endpoint/);
  });
});
