import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { HeartbeatResponseSchema } from "../../../gen/apiary/v1/queen_pb.js";
import { encodeHeartbeatResponse } from "../../../src/queen/ingest/heartbeat-response-encoding.js";

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
});
