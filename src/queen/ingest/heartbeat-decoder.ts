import { create, createFileRegistry, fromBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { HeartbeatRequestSchema, type HeartbeatRequest } from "../../../gen/apiary/v1/queen_pb.js";
import { GpuDeviceSchema, HiveReportSchema, WorkerTelemetrySchema, type GpuDevice, type HiveReport, type WorkerTelemetry } from "../../../gen/apiary/v1/telemetry_pb.js";
import { newSlot, ReuseDecoder, type Slot } from "./reuse-decoder.js";

/**
 * What the Heartbeat route decodes binary requests into: a message with no fields, so protobuf-es
 * keeps the whole request as unknown fields (byte ranges, nothing decoded) and the queen decodes
 * the report itself with a {@link HeartbeatDecoder}.
 */
export const HeartbeatFrameSchema: DescMessage = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "apiary/internal/heartbeat_frame.proto",
    package: "apiary.internal",
    syntax: "proto3",
    messageType: [{ name: "HeartbeatFrame" }],
  }),
  () => undefined,
).getMessage("apiary.internal.HeartbeatFrame")!;

export type HeartbeatFrame = Message;

const HEARTBEAT_REPORT_FIELD = HeartbeatRequestSchema.field.report.number;
/** The tag byte of a request that is a report (field `report`, length-delimited). */
const REPORT_TAG = (HEARTBEAT_REPORT_FIELD << 3) | WireType.LengthDelimited;

// Fields that change from one report to the next; everything else is compared by bytes and reused.
const deviceDecoder = new ReuseDecoder<GpuDevice>(GpuDeviceSchema, {
  dynamic: ["memoryUsedBytes", "utilizationPct", "temperatureC", "powerDrawW", "memoryUtilizationPct"],
});
const workerDecoder = new ReuseDecoder<WorkerTelemetry>(WorkerTelemetrySchema, {
  dynamic: ["cpuPct", "memoryRssBytes", "ioReadBytesPerSec", "ioWriteBytesPerSec", "gpuUtilizationPct", "vramUsedBytes", "processCount", "uptime"],
});
const reportDecoder = new ReuseDecoder<HiveReport>(HiveReportSchema, {
  dynamic: ["seq", "collectedAt", "memoryAvailableBytes", "baseSeq"],
  children: { devices: deviceDecoder, workers: workerDecoder },
});

/**
 * Where the report starts when `buf` is a length prefix followed by exactly that many bytes
 * (from `start`), else -1: a truncated or overlong varint, or a length that does not fit.
 */
function payloadStart(reader: BinaryReader, buf: Uint8Array, start: number): number {
  if (start >= buf.length) return -1;
  reader.pos = start;
  let len: number;
  try {
    len = reader.uint32();
  } catch {
    return -1;
  }
  return reader.pos <= buf.length && reader.pos + len === buf.length ? reader.pos : -1;
}

/**
 * Turns one hive stream's frames into HeartbeatRequests. A report is decoded against the stream's
 * previous report: the unchanged parts of its devices and workers are not decoded again.
 * Hello and goodbye (once per stream) are decoded by protobuf-es.
 */
export class HeartbeatDecoder {
  private readonly slot: Slot = newSlot();

  /**
   * `keepWireBytes`: whether each worker and device keeps the bytes it came in, for Watch to send on (true
   * while anyone watches: the copies cost the ingest path ~30 % of its in-process ceiling).
   */
  constructor(private readonly keepWireBytes: () => boolean = () => false) {}

  decode(frame: HeartbeatFrame): HeartbeatRequest {
    const fields = frame.$unknown ?? [];
    const only = fields.length === 1 ? fields[0] : undefined;
    if (only && only.no === HEARTBEAT_REPORT_FIELD && only.wireType === WireType.LengthDelimited) {
      // data is the field's payload behind its length prefix.
      const reader = new BinaryReader(only.data);
      const at = payloadStart(reader, only.data, 0);
      if (at >= 0) return this.reportRequest(only.data, at, reader);
    }
    return decodeOrdinary(fields);
  }

  /** The same for a request's bytes as they came off the wire (the raw gRPC path). */
  decodeBytes(bytes: Uint8Array): HeartbeatRequest {
    // A report alone: the report field's tag, its length, the report to the end.
    if (bytes.length > 1 && bytes[0] === REPORT_TAG) {
      const reader = new BinaryReader(bytes);
      const at = payloadStart(reader, bytes, 1);
      if (at >= 0) return this.reportRequest(bytes, at, reader);
    }
    try {
      return fromBinary(HeartbeatRequestSchema, bytes);
    } catch (err) {
      throw undecodable(err);
    }
  }

  /** A request holding just the report in buf[start, end of buf), decoded against this stream's previous one. */
  private reportRequest(buf: Uint8Array, start: number, reader: BinaryReader): HeartbeatRequest {
    const keep = this.keepWireBytes();
    workerDecoder.keepWireBytes = deviceDecoder.keepWireBytes = keep;
    if (keep) {
      // The request's buffer belongs to the transport: the workers and devices keep views of one
      // copy of it. One allocation per report, not one per message: a small ArrayBuffer of its
      // own costs ~2 µs to allocate and free outside the JS heap, and a burst of them stalled the soak's queen.
      buf = pooledCopy(buf);
      reader = new BinaryReader(buf);
    }
    let report: HiveReport;
    try {
      report = reportDecoder.decode(buf, start, buf.length, this.slot, reader);
    } catch (err) {
      throw undecodable(err);
    }
    return { $typeName: HeartbeatRequestSchema.typeName, kind: { case: "report", value: report } };
  }
}

/**
 * A copy of `bytes` carved from Node's buffer pool when small (8 KiB slabs shared by neighbouring
 * copies, which die about when this report's messages do), as a plain Uint8Array: decoded `bytes`
 * fields are views of it, and must not turn into Buffers.
 */
function pooledCopy(bytes: Uint8Array): Uint8Array {
  const pooled = Buffer.allocUnsafe(bytes.length);
  pooled.set(bytes);
  return new Uint8Array(pooled.buffer, pooled.byteOffset, bytes.length);
}

/** Re-encodes the frame's fields and decodes them with protobuf-es (hello, goodbye, anything unusual). */
function decodeOrdinary(fields: NonNullable<Message["$unknown"]>): HeartbeatRequest {
  const writer = new BinaryWriter();
  for (const f of fields) writer.tag(f.no, f.wireType).raw(f.data);
  try {
    return fromBinary(HeartbeatRequestSchema, writer.finish());
  } catch (err) {
    throw undecodable(err);
  }
}

function undecodable(err: unknown): ConnectError {
  return new ConnectError(`heartbeat: cannot decode the request: ${err instanceof Error ? err.message : String(err)}`, Code.InvalidArgument);
}
