import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { HeartbeatResponseSchema } from "../../../gen/apiary/v1/queen_pb.js";
import { encodeHeartbeatResponse, heartbeatAck } from "../../../src/queen/ingest/heartbeat-response-encoding.js";
import { heartbeatFastPath } from "../../../src/queen/ingest/heartbeat-route.js";

describe("encodeHeartbeatResponse", () => {
  const values = [0n, 1n, 127n, 128n, 300n, 16_383n, 16_384n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 35n + 5n, 2n ** 63n, 2n ** 64n - 1n];

  it("writes an ack exactly as toBinary does, for seqs and revisions of every varint length", () => {
    for (const seq of values) {
      for (const revision of [0n, 1n, 200n, 2n ** 40n, 2n ** 64n - 1n]) {
        for (const resync of [false, true]) {
          const message = create(HeartbeatResponseSchema, { kind: { case: "ack", value: { seq, revision, resync } } });
          const bytes = encodeHeartbeatResponse(message);
          expect(Buffer.from(bytes).toString("hex"), `seq ${seq} revision ${revision} resync ${resync}`).toBe(Buffer.from(toBinary(HeartbeatResponseSchema, message)).toString("hex"));
          const back = fromBinary(HeartbeatResponseSchema, bytes);
          expect(back.kind.case === "ack" && back.kind.value.seq === seq && back.kind.value.revision === revision && back.kind.value.resync === resync).toBe(true);
        }
      }
    }
  });

  it("leaves other responses to toBinary", () => {
    const welcome = create(HeartbeatResponseSchema, {
      kind: { case: "welcome", value: { reportInterval: durationFromMs(1000), revision: 7n, epoch: "e", partialReports: true } },
    });
    expect(encodeHeartbeatResponse(welcome)).toEqual(toBinary(HeartbeatResponseSchema, welcome));
  });

  it("is the Heartbeat fast path's encoder, and writes every ack the handler builds as toBinary writes create()'s", () => {
    const path = heartbeatFastPath(async function* () {});
    expect(path.encode).toBe(encodeHeartbeatResponse);
    for (const seq of values) {
      for (const revision of [0, 1, 127, 128, 2 ** 31 - 1, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
        for (const resync of [false, true]) {
          const expected = toBinary(HeartbeatResponseSchema, create(HeartbeatResponseSchema, { kind: { case: "ack", value: { seq, revision: BigInt(revision), resync } } }));
          const bytes = path.encode!(heartbeatAck(seq, revision, resync));
          expect(Buffer.from(bytes).toString("hex"), `seq ${seq} revision ${revision} resync ${resync}`).toBe(Buffer.from(expected).toString("hex"));
        }
      }
    }
  });

  it("leaves an ack carrying unknown fields to toBinary, which writes them", () => {
    const message = create(HeartbeatResponseSchema, { kind: { case: "ack", value: { seq: 5n, revision: 9n, resync: true } } });
    if (message.kind.case === "ack") message.kind.value.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([7]) }];
    expect(Buffer.from(encodeHeartbeatResponse(message)).toString("hex")).toBe(Buffer.from(toBinary(HeartbeatResponseSchema, message)).toString("hex"));
  });
});
