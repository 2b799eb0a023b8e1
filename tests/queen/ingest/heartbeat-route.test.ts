import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Transport } from "@connectrpc/connect";
import type { Queen } from "../../../src/queen/queen.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { TestHive } from "../helpers/test-hive.js";

// Binary Heartbeat requests go to the route that decodes reports itself; JSON ones to connect-node's
// ordinary handler. Every protocol and codec must leave the same registry state.
let queen: Queen;
beforeEach(async () => {
  ({ queen } = await startTestQueen({}));
});
afterEach(async () => {
  await queen.close();
});

const transports: [string, () => Transport][] = [
  ["gRPC, proto", () => createApiaryTransport(queen.url)],
  ["Connect, JSON", () => createConnectTransport({ baseUrl: queen.url, httpVersion: "2", useBinaryFormat: false })],
  ["Connect, proto", () => createConnectTransport({ baseUrl: queen.url, httpVersion: "2", useBinaryFormat: true })],
  ["gRPC-Web, JSON", () => createGrpcWebTransport({ baseUrl: queen.url, httpVersion: "2", useBinaryFormat: false })],
];

describe("Heartbeat over every protocol and codec", () => {
  for (const [name, transport] of transports) {
    it(`${name}: reports are applied and acked`, async () => {
      const hiveId = `h-${name.replace(/\W+/g, "-")}`;
      const hive = await TestHive.connect(transport(), hiveId);
      for (let i = 0; i < 3; i++) {
        const ack = await hive.reportSynthetic({ workers: 3, gpus: 2 });
        expect(ack.seq).toBe(BigInt(i + 1));
      }
      const record = queen.registry.hive(hiveId)!;
      expect([...record.workers.keys()].sort()).toEqual(["w0", "w1", "w2"]);
      expect(record.devices).toHaveLength(2);
      expect(record.lastSeq).toBe(3n);
      hive.abort();
    });
  }
});
