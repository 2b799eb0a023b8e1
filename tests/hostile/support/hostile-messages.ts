import { fromBinary, fromJson, ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

// Hostile request bodies for one method's input message, written from its descriptor with a
// hand-rolled encoder (so a body can hold what protobuf-es would refuse to write: invalid UTF-8,
// enum numbers out of range, wrong wire types). Each case says whether protobuf-es itself decodes
// it: a decodable body is a request the server must answer with a clear code, never INTERNAL.

export type Mode = "plain" | "extreme" | "invalid-utf8" | "enum-out-of-range";

export interface BinaryCase {
  name: string;
  body: Uint8Array;
  decodable: boolean;
}

export interface JsonCase {
  name: string;
  body: string;
  decodable: boolean;
}

const MAX_DEPTH = 3;
const INVALID_UTF8 = new Uint8Array([0x61, 0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80]);
const EXTREME_DOUBLES = [Number.NaN, Infinity, -Infinity, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -0];
const EXTREME_INT64 = ["9223372036854775807", "-9223372036854775808", "-1"];
const EXTREME_UINT64 = ["18446744073709551615", "0"];
const EXTREME_INT32 = [2147483647, -2147483648, -1];
const EXTREME_UINT32 = [4294967295, 0];

type Rand = () => number;
const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];

function randomString(rand: Rand, mode: Mode, depth: number): string {
  if (mode === "extreme") return pick(rand, ["", "\u0000", "x".repeat(depth === 0 ? 64 * 1024 : 300), "../../etc/passwd", "a\u0000b", "\u{1F41D}".repeat(100), " "]);
  const n = Math.floor(rand() * 12);
  return Array.from({ length: n }, () => String.fromCharCode(0x61 + Math.floor(rand() * 26))).join("");
}

function writeScalar(w: BinaryWriter, no: number, type: ScalarType, rand: Rand, mode: Mode, depth = 0): void {
  const extreme = mode === "extreme";
  switch (type) {
    case ScalarType.DOUBLE:
      w.tag(no, WireType.Bit64).double(extreme ? pick(rand, EXTREME_DOUBLES) : rand() * 100);
      return;
    case ScalarType.FLOAT:
      w.tag(no, WireType.Bit32).float(extreme ? pick(rand, [Number.NaN, Infinity, -Infinity, 3.4e38, -3.4e38]) : rand() * 100);
      return;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64: {
      const v = extreme ? pick(rand, EXTREME_INT64) : String(Math.floor(rand() * 1000));
      if (type === ScalarType.INT64) w.tag(no, WireType.Varint).int64(v);
      else if (type === ScalarType.SINT64) w.tag(no, WireType.Varint).sint64(v);
      else w.tag(no, WireType.Bit64).sfixed64(v);
      return;
    }
    case ScalarType.UINT64:
    case ScalarType.FIXED64: {
      const v = extreme ? pick(rand, EXTREME_UINT64) : String(Math.floor(rand() * 1000));
      if (type === ScalarType.UINT64) w.tag(no, WireType.Varint).uint64(v);
      else w.tag(no, WireType.Bit64).fixed64(v);
      return;
    }
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32: {
      const v = extreme ? pick(rand, EXTREME_INT32) : Math.floor(rand() * 1000);
      if (type === ScalarType.INT32) w.tag(no, WireType.Varint).int32(v);
      else if (type === ScalarType.SINT32) w.tag(no, WireType.Varint).sint32(v);
      else w.tag(no, WireType.Bit32).sfixed32(v);
      return;
    }
    case ScalarType.UINT32:
    case ScalarType.FIXED32: {
      const v = extreme ? pick(rand, EXTREME_UINT32) : Math.floor(rand() * 1000);
      if (type === ScalarType.UINT32) w.tag(no, WireType.Varint).uint32(v);
      else w.tag(no, WireType.Bit32).fixed32(v);
      return;
    }
    case ScalarType.BOOL:
      w.tag(no, WireType.Varint).bool(rand() < 0.5);
      return;
    case ScalarType.STRING:
      if (mode === "invalid-utf8") w.tag(no, WireType.LengthDelimited).bytes(INVALID_UTF8);
      else w.tag(no, WireType.LengthDelimited).string(randomString(rand, mode, depth));
      return;
    case ScalarType.BYTES:
      w.tag(no, WireType.LengthDelimited).bytes(extreme ? new Uint8Array(depth === 0 ? 64 * 1024 : 64).fill(0xff) : new Uint8Array(Math.floor(rand() * 16)));
      return;
  }
}

function writeEnum(w: BinaryWriter, no: number, rand: Rand, mode: Mode): void {
  w.tag(no, WireType.Varint).int32(mode === "enum-out-of-range" || mode === "extreme" ? pick(rand, [9999, -7, 2147483647]) : Math.floor(rand() * 3));
}

/** One field of a message, once (a list or map gets a few entries). */
function writeField(w: BinaryWriter, f: DescField, rand: Rand, mode: Mode, depth: number): void {
  // Many entries only at the top, so a message stays well under the server's size limit.
  const repeat = mode === "extreme" && depth === 0 ? 1 + Math.floor(rand() * 50) : 1 + Math.floor(rand() * 3);
  switch (f.fieldKind) {
    case "scalar":
      writeScalar(w, f.number, f.scalar, rand, mode, depth);
      return;
    case "enum":
      writeEnum(w, f.number, rand, mode);
      return;
    case "message":
      if (depth < MAX_DEPTH) w.tag(f.number, WireType.LengthDelimited).bytes(randomMessage(f.message, rand, mode, depth + 1));
      return;
    case "list":
      for (let i = 0; i < repeat; i++) {
        if (f.listKind === "scalar") writeScalar(w, f.number, f.scalar, rand, mode, depth);
        else if (f.listKind === "enum") writeEnum(w, f.number, rand, mode);
        else if (depth < MAX_DEPTH) w.tag(f.number, WireType.LengthDelimited).bytes(randomMessage(f.message, rand, mode, depth + 1));
      }
      return;
    case "map":
      for (let i = 0; i < repeat; i++) {
        const entry = new BinaryWriter();
        writeScalar(entry, 1, f.mapKey, rand, mode, depth + 1);
        if (f.mapKind === "scalar") writeScalar(entry, 2, f.scalar, rand, mode, depth + 1);
        else if (f.mapKind === "enum") writeEnum(entry, 2, rand, mode);
        else if (depth < MAX_DEPTH) entry.tag(2, WireType.LengthDelimited).bytes(randomMessage(f.message, rand, mode, depth + 1));
        w.tag(f.number, WireType.LengthDelimited).bytes(entry.finish());
      }
      return;
  }
}

/** A message with a random subset of its fields set (at most one member of each oneof). */
export function randomMessage(schema: DescMessage, rand: Rand, mode: Mode, depth = 0): Uint8Array {
  const w = new BinaryWriter();
  const oneofDone = new Set<unknown>();
  for (const f of schema.fields) {
    if (rand() < 0.35) continue;
    if (f.oneof) {
      if (oneofDone.has(f.oneof)) continue;
      oneofDone.add(f.oneof);
    }
    writeField(w, f, rand, mode, depth);
  }
  return w.finish();
}

function decodes(schema: DescMessage, body: Uint8Array): boolean {
  try {
    fromBinary(schema, body);
    return true;
  } catch {
    return false;
  }
}

function jsonDecodes(schema: DescMessage, body: string): boolean {
  try {
    fromJson(schema, JSON.parse(body));
    return true;
  } catch {
    return false;
  }
}

/** The binary cases for one input message: random bytes, truncations, extremes, invalid UTF-8, enums out of range, wrong wire types. */
export function binaryCases(schema: DescMessage, rand: Rand): BinaryCase[] {
  const random = new Uint8Array(1 + Math.floor(rand() * 512)).map(() => Math.floor(rand() * 256));
  const full = randomMessage(schema, rand, "plain");
  const cut = full.length > 1 ? full.subarray(0, 1 + Math.floor(rand() * (full.length - 1))) : new Uint8Array([0x0a, 0x05]);
  const wrongWireType = new BinaryWriter();
  for (const f of schema.fields) wrongWireType.tag(f.number, f.fieldKind === "message" || f.fieldKind === "list" ? WireType.Bit32 : WireType.LengthDelimited).bytes(new Uint8Array([1, 2, 3]));
  const cases: Omit<BinaryCase, "decodable">[] = [
    { name: "random bytes", body: random },
    { name: "empty", body: new Uint8Array() },
    { name: "truncated", body: cut },
    { name: "plain", body: full },
    { name: "extreme numbers and strings", body: randomMessage(schema, rand, "extreme") },
    { name: "invalid UTF-8", body: randomMessage(schema, rand, "invalid-utf8") },
    { name: "enum out of range", body: randomMessage(schema, rand, "enum-out-of-range") },
    { name: "wrong wire types", body: wrongWireType.finish() },
    { name: "unknown fields only", body: new BinaryWriter().tag(9_999, WireType.LengthDelimited).bytes(new Uint8Array(100)).tag(536_870_911, WireType.Varint).uint64("18446744073709551615").finish() },
  ];
  return cases.map((c) => ({ ...c, decodable: decodes(schema, c.body) }));
}

function jsonValue(f: DescField, rand: Rand): unknown {
  const scalar = f.fieldKind === "scalar" || (f.fieldKind === "list" && f.listKind === "scalar") ? f.scalar : undefined;
  const one = (): unknown => {
    if (f.fieldKind === "enum" || (f.fieldKind === "list" && f.listKind === "enum")) return pick(rand, [9999, -3, "NOT_A_VALUE", ""]);
    if (scalar === ScalarType.DOUBLE || scalar === ScalarType.FLOAT) return pick(rand, ["NaN", "Infinity", "-Infinity", 1e308, "1e999"]);
    if (scalar === ScalarType.STRING) return pick(rand, ["\ud800", "\u0000", "x".repeat(10_000), "\udfff\ud800"]);
    if (scalar === ScalarType.BYTES) return pick(rand, ["!!!not-base64", "", "/w=="]);
    if (scalar === ScalarType.BOOL) return pick(rand, [true, "true", 1]);
    if (scalar !== undefined) return pick(rand, ["18446744073709551616", "-9223372036854775809", 1.5, "1e30", -1]);
    return pick(rand, [{}, [], "x", null]);
  };
  return f.fieldKind === "list" ? [one(), one()] : one();
}

/** Connect JSON cases: garbage, truncated, wrong types, NaN/∞/huge numbers, lone surrogates, enum numbers and names out of range. */
export function jsonCases(schema: DescMessage, rand: Rand): JsonCase[] {
  const extreme: Record<string, unknown> = {};
  for (const f of schema.fields) if (!f.oneof || !Object.values(extreme).length) extreme[f.jsonName] = jsonValue(f, rand);
  const text = JSON.stringify(extreme);
  const cases: Omit<JsonCase, "decodable">[] = [
    { name: "json garbage", body: "{\"" + "[".repeat(5000) },
    { name: "json truncated", body: text.slice(0, Math.max(1, Math.floor(rand() * text.length))) },
    { name: "json extremes", body: text },
    { name: "json wrong top-level type", body: "[1,2,3]" },
    { name: "json unknown field", body: "{\"noSuchField\": 1}" },
    { name: "json deep nesting", body: "{\"a\":".repeat(2000) + "1" + "}".repeat(2000) },
  ];
  return cases.map((c) => ({ ...c, decodable: jsonDecodes(schema, c.body) }));
}
