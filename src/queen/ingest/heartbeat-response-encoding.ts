import { toBinary } from "@bufbuild/protobuf";
import { HeartbeatResponseSchema, type HeartbeatResponse } from "../../../gen/apiary/v1/queen_pb.js";

/** A HeartbeatResponse with its ack, as create() makes it but without its per-call reflection. */
export function heartbeatAck(seq: bigint, revision: number, resync: boolean): HeartbeatResponse {
  return {
    $typeName: "apiary.v1.HeartbeatResponse",
    kind: { case: "ack", value: { $typeName: "apiary.v1.HeartbeatAck", seq, revision: BigInt(revision), resync } },
  };
}

const ACK_FIELD = 2; // HeartbeatResponse.ack
const ACK_TAG = (ACK_FIELD << 3) | 2;
const SEQ_TAG = (1 << 3) | 0; // HeartbeatAck.seq
const REVISION_TAG = (2 << 3) | 0; // HeartbeatAck.revision
const RESYNC_TAG = (3 << 3) | 0; // HeartbeatAck.resync

/**
 * A HeartbeatResponse's bytes: an ack (every report's answer) written by hand, the same bytes
 * toBinary writes (fields in order, zero values left out); anything else by toBinary. On the
 * ingest path toBinary's reflection was ~5 % of the queen's CPU per report.
 */
export function encodeHeartbeatResponse(message: HeartbeatResponse): Uint8Array {
  if (message.kind.case !== "ack" || message.kind.value.$unknown !== undefined || message.$unknown !== undefined) return toBinary(HeartbeatResponseSchema, message);
  const { seq, revision, resync } = message.kind.value;
  const bodyLength = (seq === 0n ? 0 : 1 + varintLength(seq)) + (revision === 0n ? 0 : 1 + varintLength(revision)) + (resync ? 2 : 0);
  const out = new Uint8Array(1 + varintLength(BigInt(bodyLength)) + bodyLength);
  let at = 0;
  out[at++] = ACK_TAG;
  at = writeVarint(out, at, BigInt(bodyLength));
  if (seq !== 0n) {
    out[at++] = SEQ_TAG;
    at = writeVarint(out, at, seq);
  }
  if (revision !== 0n) {
    out[at++] = REVISION_TAG;
    at = writeVarint(out, at, revision);
  }
  if (resync) {
    out[at++] = RESYNC_TAG;
    out[at++] = 1;
  }
  return out;
}

/** Bytes of a uint64 varint (values outside uint64 are wrapped as toBinary wraps them). */
function varintLength(value: bigint): number {
  let v = BigInt.asUintN(64, value);
  let n = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    n++;
  }
  return n;
}

function writeVarint(out: Uint8Array, at: number, value: bigint): number {
  let v = BigInt.asUintN(64, value);
  // Below 2^31 (seqs and revisions for years): number arithmetic, no BigInt per byte.
  if (v < 0x80000000n) {
    let n = Number(v);
    while (n >= 0x80) {
      out[at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[at++] = n;
    return at;
  }
  while (v >= 0x80n) {
    out[at++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[at++] = Number(v);
  return at;
}
