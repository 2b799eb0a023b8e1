import { create, createFileRegistry, fromBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { HeartbeatRequestSchema, type HeartbeatRequest } from "../../../gen/apiary/v1/queen_pb.js";
import { GpuDeviceSchema, HiveReportSchema, WorkerTelemetrySchema, type HiveReport } from "../../../gen/apiary/v1/telemetry_pb.js";
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

const HEARTBEAT_REPORT_FIELD = 2;

// Fields that change from one report to the next; everything else is compared by bytes and reused.
const deviceDecoder = new ReuseDecoder(GpuDeviceSchema, {
  // memory_used_bytes, utilization_pct, temperature_c, power_draw_w, memory_utilization_pct
  dynamic: [5, 6, 7, 8, 12],
});
const workerDecoder = new ReuseDecoder(WorkerTelemetrySchema, {
  // cpu_pct, memory_rss_bytes, io_read/write_bytes_per_sec, gpu_utilization_pct, vram_used_bytes,
  // process_count, uptime
  dynamic: [7, 8, 9, 10, 11, 12, 20, 22],
});
const reportDecoder = new ReuseDecoder<HiveReport>(HiveReportSchema, {
  // seq, collected_at, memory_available_bytes
  dynamic: [1, 2, 5],
  children: { 3: deviceDecoder, 4: workerDecoder },
});

/**
 * Turns one hive stream's frames into HeartbeatRequests. A report is decoded against the stream's
 * previous report: the unchanged parts of its devices and workers are not decoded again.
 * Hello and goodbye (once per stream) are decoded by protobuf-es.
 */
export class HeartbeatDecoder {
  private readonly slot: Slot = newSlot();

  /**
   * `keepWireBytes`: whether each worker keeps the bytes it came in, for Watch to send on (true
   * while anyone watches: the copies cost the ingest path ~30 % of its in-process ceiling).
   */
  constructor(private readonly keepWireBytes: () => boolean = () => false) {}

  decode(frame: HeartbeatFrame): HeartbeatRequest {
    const fields = frame.$unknown ?? [];
    const only = fields.length === 1 ? fields[0] : undefined;
    if (only && only.no === HEARTBEAT_REPORT_FIELD && only.wireType === WireType.LengthDelimited) {
      const data = only.data;
      // data is the field's payload behind its length prefix.
      let pos = 0;
      let len = 0;
      for (let shift = 0; ; shift += 7) {
        const b = data[pos++];
        len |= (b & 0x7f) << shift;
        if (b < 0x80 || shift > 28) break;
      }
      if (pos + len === data.length) return this.reportRequest(data, pos);
    }
    return decodeOrdinary(fields);
  }

  /** The same for a request's bytes as they came off the wire (the raw gRPC path). */
  decodeBytes(bytes: Uint8Array): HeartbeatRequest {
    // A report alone: tag 0x12 (field 2, length-delimited), its length, the report to the end.
    if (bytes.length > 1 && bytes[0] === (HEARTBEAT_REPORT_FIELD << 3) + WireType.LengthDelimited) {
      let pos = 1;
      let len = 0;
      let terminated = false;
      for (let shift = 0; pos < bytes.length && shift <= 28; shift += 7) {
        const b = bytes[pos++];
        len |= (b & 0x7f) << shift;
        if (b < 0x80) {
          terminated = true;
          break;
        }
      }
      if (terminated && len >= 0 && pos + len === bytes.length) return this.reportRequest(bytes, pos);
    }
    try {
      return fromBinary(HeartbeatRequestSchema, bytes);
    } catch (err) {
      throw undecodable(err);
    }
  }

  /** A request holding just the report in buf[start, end of buf), decoded against this stream's previous one. */
  private reportRequest(buf: Uint8Array, start: number): HeartbeatRequest {
    workerDecoder.keepWireBytes = this.keepWireBytes();
    let report: HiveReport;
    try {
      report = reportDecoder.decode(buf, start, buf.length, this.slot);
    } catch (err) {
      throw undecodable(err);
    }
    return { $typeName: HeartbeatRequestSchema.typeName, kind: { case: "report", value: report } };
  }
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
