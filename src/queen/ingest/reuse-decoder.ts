import { fromBinary, ScalarType, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { rememberWireBytes } from "./wire-bytes.js";

/**
 * Decodes a message that arrives again and again with mostly the same bytes (a hive's full report
 * every second), reusing what did not change since the previous one.
 *
 * A message's fields fall in three groups: `dynamic` ones (scalars, or Timestamp/Duration) that
 * change every time and are read directly; `children`, repeated message fields whose elements get
 * the same treatment one by one (by position); and all the rest, the "static" fields. When the
 * static fields' bytes equal the previous message's at the same slot, the previous decoded values
 * are reused (no strings, arrays or maps built again); otherwise they are decoded by protobuf-es
 * (so fields added to the schema later, and unknown fields, are decoded exactly as fromBinary
 * does). The result is a new message object: equal, field by field, to fromBinary's.
 *
 * Decoded messages share their unchanged nested values (strings, arrays, maps, sub-messages) with
 * the previous message of the same slot: treat them as immutable, as the registry does.
 */
export class ReuseDecoder<T extends Message> {
  private readonly dynamic = new Map<number, DynamicField>();
  private readonly children = new Map<number, { localName: string; decoder: ReuseDecoder<Message> }>();
  /**
   * Remember each decoded message's bytes with it (see wire-bytes.ts), as a view of the `buf` it
   * was decoded from: whoever sets it passes a buffer of its own, which the messages then share.
   * Read at every decode: whoever decodes sets it first (decoding is synchronous).
   */
  keepWireBytes = false;

  /** Fields are named as in the generated code (`memoryUsedBytes`); their numbers come from the schema. */
  constructor(
    readonly schema: DescMessage,
    spec: { dynamic: FieldName<T>[]; children?: Partial<Record<FieldName<T>, ReuseDecoder<Message>>> },
  ) {
    this.copy = shallowCopier(schema);
    for (const name of spec.dynamic) {
      const field = fieldOf(schema, name);
      this.dynamic.set(field.number, dynamicField(field));
      this.dynamicByNo[field.number] = this.dynamic.get(field.number);
    }
    for (const [name, decoder] of Object.entries(spec.children ?? {}) as [string, ReuseDecoder<Message>][]) {
      const field = fieldOf(schema, name);
      if (field.fieldKind !== "list" || field.listKind !== "message") throw new Error(`${schema.typeName}.${field.name}: children must be repeated messages`);
      this.children.set(field.number, { localName: field.localName, decoder });
    }
  }

  /** A shallow copy with every field an own property, in one order, so that all copies share one shape. */
  private readonly copy: (base: Message) => Record<string, unknown>;
  /** Dynamic fields by field number (a sparse array: cheaper to index than a Map). */
  private readonly dynamicByNo: (DynamicField | undefined)[] = [];

  // Scratch space for one decode (decoding is synchronous and a decoder never contains itself).
  private readonly statics: number[] = [];
  private readonly dynamicFields: DynamicField[] = [];
  private readonly dynamicValues: unknown[] = [];

  /** Decodes buf[start, end) using and updating the slot's memory of the previous message. */
  decode(buf: Uint8Array, start: number, end: number, slot: Slot, reader = new BinaryReader(buf)): T {
    let message: T;
    try {
      reader.pos = start;
      message = this.decodeFast(buf, reader, end, slot);
    } catch {
      // Anything unexpected (a dynamic field with another wire type, malformed bytes): decode the
      // whole message the ordinary way, which throws if it must.
      slot.staticBytes = undefined;
      slot.base = undefined;
      slot.children.clear();
      message = fromBinary(this.schema, buf.subarray(start, end)) as T;
    }
    if (this.keepWireBytes) rememberWireBytes(message, buf.subarray(start, end));
    return message;
  }

  private decodeFast(buf: Uint8Array, reader: BinaryReader, end: number, slot: Slot): T {
    // Static field ranges, as [start, end) pairs into buf, in wire order.
    const statics = this.statics;
    const dynamicFields = this.dynamicFields;
    const dynamicValues = this.dynamicValues;
    let staticCount = 0;
    let staticLength = 0;
    let dynamicCount = 0;
    let childRanges: Map<number, number[]> | undefined;
    while (reader.pos < end) {
      const fieldStart = reader.pos;
      const tag = reader.uint32();
      const no = tag >>> 3;
      const wireType = tag & 7;
      const dyn = no < this.dynamicByNo.length ? this.dynamicByNo[no] : undefined;
      if (dyn !== undefined) {
        if (wireType !== dyn.wireType) throw new Error("unexpected wire type");
        let previous: unknown;
        for (let i = 0; i < dynamicCount; i++) if (dynamicFields[i] === dyn) previous = dynamicValues[i];
        dynamicValues[dynamicCount] = dyn.read(reader, previous);
        dynamicFields[dynamicCount++] = dyn;
      } else if (wireType === WireType.LengthDelimited && this.children.has(no)) {
        const len = reader.uint32();
        const s = reader.pos;
        reader.pos += len;
        let ranges = (childRanges ??= new Map()).get(no);
        if (ranges === undefined) childRanges.set(no, (ranges = []));
        ranges.push(s, s + len);
      } else {
        skipField(reader, buf, wireType as WireType, no);
        statics[staticCount++] = fieldStart;
        statics[staticCount++] = reader.pos;
        staticLength += reader.pos - fieldStart;
      }
      if (reader.pos > end) throw new Error("field runs past the message's end");
    }

    let base = slot.base;
    if (base === undefined || !sameBytes(slot.staticBytes!, buf, statics, staticCount, staticLength)) {
      const bytes = new Uint8Array(staticLength);
      for (let i = 0, at = 0; i < staticCount; i += 2) {
        bytes.set(buf.subarray(statics[i], statics[i + 1]), at);
        at += statics[i + 1] - statics[i];
      }
      base = this.copy(fromBinary(this.schema, bytes)) as unknown as Message;
      slot.base = base;
      slot.staticBytes = bytes;
    }
    const message = this.copy(base);
    for (let i = 0; i < dynamicCount; i++) {
      message[dynamicFields[i].localName] = dynamicValues[i];
      dynamicValues[i] = undefined;
    }
    for (const [no, { localName, decoder }] of this.children) {
      const ranges = childRanges?.get(no);
      let childSlots = slot.children.get(no);
      if (ranges === undefined) {
        // The slots stay: a send-on-change hive's empty reports come between full ones, and the
        // next full report then reuses what it shares with the last (slots are a cache, checked by bytes).
        message[localName] = [];
        continue;
      }
      if (childSlots === undefined) slot.children.set(no, (childSlots = []));
      const count = ranges.length / 2;
      const list: Message[] = new Array(count);
      for (let i = 0; i < count; i++) {
        const childSlot = (childSlots[i] ??= newSlot());
        list[i] = decoder.decode(buf, ranges[2 * i], ranges[2 * i + 1], childSlot, reader);
      }
      childSlots.length = count;
      message[localName] = list;
    }
    return message as unknown as T;
  }

}

/**
 * BinaryReader.skip without its return value: protobuf-es returns the skipped bytes as a new
 * subarray, a third of everything the ingest path allocated (sampled). Groups go to skip itself.
 */
function skipField(reader: BinaryReader, buf: Uint8Array, wireType: WireType, no: number): void {
  switch (wireType) {
    case WireType.Varint:
      while (buf[reader.pos++] & 0x80) {
        // continuation bytes
      }
      break;
    case WireType.Bit64:
      reader.pos += 8;
      break;
    case WireType.Bit32:
      reader.pos += 4;
      break;
    case WireType.LengthDelimited: {
      const len = reader.uint32();
      reader.pos += len;
      break;
    }
    default:
      reader.skip(wireType, no);
      return;
  }
  if (reader.pos > reader.len) throw new RangeError("premature EOF");
}

/** What a decoder remembers of the previous message at one position. */
export interface Slot {
  staticBytes: Uint8Array | undefined;
  base: Message | undefined;
  children: Map<number, Slot[]>;
}

export function newSlot(): Slot {
  return { staticBytes: undefined, base: undefined, children: new Map() };
}

/**
 * Compiles `(m) => ({ $typeName: m.$typeName, field1: m.field1, … })` for the schema: an object
 * literal of fixed shape, which V8 builds far faster than a spread or a loop over the keys.
 * The property names come from the schema (generated code), never from input.
 */
function shallowCopier(schema: DescMessage): (base: Message) => Record<string, unknown> {
  const keys = ["$typeName", ...new Set(schema.fields.map((f) => f.oneof?.localName ?? f.localName))];
  const props = keys.map((k) => `${JSON.stringify(k)}: m[${JSON.stringify(k)}]`).join(", ");
  const literal = new Function("m", `"use strict"; const c = { ${props} }; if (m.$unknown !== undefined) c.$unknown = m.$unknown; return c;`) as (base: Message) => Record<string, unknown>;
  // Messages with a prototype of their own (proto2 defaults) keep it.
  return (base) => {
    const copy = literal(base);
    const proto = Object.getPrototypeOf(base) as object;
    return proto === Object.prototype ? copy : Object.assign(Object.create(proto) as object, copy);
  };
}

function sameBytes(previous: Uint8Array, buf: Uint8Array, ranges: number[], count: number, length: number): boolean {
  if (previous.length !== length) return false;
  let at = 0;
  for (let r = 0; r < count; r += 2) {
    for (let i = ranges[r], e = ranges[r + 1]; i < e; i++) if (buf[i] !== previous[at++]) return false;
  }
  return true;
}

interface DynamicField {
  localName: string;
  wireType: WireType;
  /** Reads the value at the reader's position; `previous` is an earlier occurrence in the same message (messages merge). */
  read(reader: BinaryReader, previous: unknown): unknown;
}

/** A message field's name in the generated code. */
export type FieldName<T extends Message> = Exclude<keyof T, "$typeName" | "$unknown"> & string;

function fieldOf(schema: DescMessage, localName: string): DescField {
  const field = schema.fields.find((f) => f.localName === localName);
  if (!field) throw new Error(`${schema.typeName} has no field ${localName}`);
  return field;
}

const SECONDS_NANOS = new Set(["google.protobuf.Timestamp", "google.protobuf.Duration"]);

function dynamicField(field: DescField): DynamicField {
  const localName = field.localName;
  if (field.fieldKind === "scalar") {
    const [wireType, read] = scalarReader(field.scalar);
    return { localName, wireType, read };
  }
  if (field.fieldKind === "message" && SECONDS_NANOS.has(field.message.typeName)) {
    const typeName = field.message.typeName;
    return {
      localName,
      wireType: WireType.LengthDelimited,
      read(reader, previous) {
        const len = reader.uint32();
        const end = reader.pos + len;
        const prev = previous as { seconds: bigint; nanos: number } | undefined;
        let seconds = prev?.seconds ?? 0n;
        let nanos = prev?.nanos ?? 0;
        while (reader.pos < end) {
          const tag = reader.uint32();
          if (tag === 8) seconds = BigInt(reader.int64());
          else if (tag === 16) nanos = reader.int32();
          else throw new Error("unexpected field in seconds/nanos message");
        }
        if (reader.pos !== end) throw new Error("seconds/nanos message overruns");
        return { $typeName: typeName, seconds, nanos };
      },
    };
  }
  throw new Error(`${field.parent.typeName}.${field.name}: a dynamic field must be a scalar, Timestamp or Duration`);
}

function scalarReader(type: ScalarType): [WireType, (r: BinaryReader) => unknown] {
  switch (type) {
    case ScalarType.DOUBLE: return [WireType.Bit64, (r) => r.double()];
    case ScalarType.FLOAT: return [WireType.Bit32, (r) => r.float()];
    case ScalarType.INT32: return [WireType.Varint, (r) => r.int32()];
    case ScalarType.UINT32: return [WireType.Varint, (r) => r.uint32()];
    case ScalarType.SINT32: return [WireType.Varint, (r) => r.sint32()];
    case ScalarType.INT64: return [WireType.Varint, (r) => r.int64()];
    case ScalarType.UINT64: return [WireType.Varint, (r) => r.uint64()];
    case ScalarType.SINT64: return [WireType.Varint, (r) => r.sint64()];
    case ScalarType.BOOL: return [WireType.Varint, (r) => r.bool()];
    case ScalarType.FIXED32: return [WireType.Bit32, (r) => r.fixed32()];
    case ScalarType.SFIXED32: return [WireType.Bit32, (r) => r.sfixed32()];
    case ScalarType.FIXED64: return [WireType.Bit64, (r) => r.fixed64()];
    case ScalarType.SFIXED64: return [WireType.Bit64, (r) => r.sfixed64()];
    default: throw new Error(`scalar type ${ScalarType[type]} cannot be a dynamic field`);
  }
}
