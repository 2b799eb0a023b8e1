import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { HiveDepartureSchema, HiveHealth, HiveStatusSchema, type HiveStatus } from "../../../gen/apiary/v1/queen_pb.js";
import { CollectionErrorSchema, GpuDeviceSchema, GpuProbeState, GpuProbeStatusSchema, HiveInfoSchema } from "../../../gen/apiary/v1/telemetry_pb.js";
import { rememberWireBytes } from "../../../src/queen/ingest/wire-bytes.js";
import { hiveStatusBytes, MOVING_FIELDS, STABLE_FIELDS, stablePartSource } from "../../../src/queen/watch/hive-status-bytes.js";
import { makeDevice, makeHiveInfo, makeWorker } from "../helpers/telemetry-builders.js";

const info = makeHiveInfo("h1", { zone: "a" });
const devices = [makeDevice("h1", 0, { usedGiB: 3, utilizationPct: 40 }), makeDevice("h1", 1)];
// One object each, as a hive's record holds them until a report changes them.
const gpuProbe = create(GpuProbeStatusSchema, { state: GpuProbeState.OK });
const errors = [create(CollectionErrorSchema, { source: "gpu", message: "slow" })];

function status(overrides: Partial<Omit<HiveStatus, "$typeName">> = {}): HiveStatus {
  return create(HiveStatusSchema, {
    info,
    health: HiveHealth.HEALTHY,
    lastSeen: timestampFromMs(1_765_000_000_123),
    devices,
    incarnation: "inc-1",
    connectedAt: timestampFromMs(1_765_000_000_000),
    gpuProbe,
    memoryAvailableBytes: 10n ** 11n,
    connected: true,
    lastSeq: 300n,
    errors,
    ownerQueenId: "queen-a",
    ...overrides,
  });
}

function decodesTo(expected: HiveStatus): void {
  const decoded = fromBinary(HiveStatusSchema, hiveStatusBytes(expected));
  expect(equals(HiveStatusSchema, decoded, expected)).toBe(true);
}

describe("a hive status's bytes for Watch", () => {
  it("decode to the status, whatever its moving fields hold", () => {
    decodesTo(status());
    decodesTo(status({ lastSeen: undefined, lastSeq: 0n }));
    decodesTo(status({ lastSeen: timestampFromMs(0), lastSeq: 1n }));
    decodesTo(status({ lastSeen: timestampFromMs(1_765_000_001_000), lastSeq: 2n ** 40n }));
    decodesTo(status({ lastSeen: timestampFromMs(-5_000) }));
    decodesTo(status({ lastSeq: 2n ** 63n }));
    decodesTo(create(HiveStatusSchema, { lastSeq: 4n }));
  });

  it("keep the stable part across statuses that differ only in last_seen and last_seq", () => {
    hiveStatusBytes(status({ incarnation: "inc-0" }));
    const first = status();
    hiveStatusBytes(first);
    expect(stablePartSource(info)).toBe(first);
    decodesTo(status({ lastSeen: timestampFromMs(1_765_000_009_000), lastSeq: 309n }));
    expect(stablePartSource(info)).toBe(first);
  });

  it.each<[string, Partial<Omit<HiveStatus, "$typeName">>]>([
    ["health", { health: HiveHealth.DEGRADED }],
    ["a device", { devices: [makeDevice("h1", 0, { usedGiB: 4, utilizationPct: 40 }), devices[1]] }],
    ["the device list", { devices: devices.slice(0, 1) }],
    ["workers", { workers: [makeWorker("w1")] }],
    ["incarnation", { incarnation: "inc-2" }],
    ["connected_at", { connectedAt: timestampFromMs(1_765_000_000_001) }],
    ["gpu_probe", { gpuProbe: create(GpuProbeStatusSchema, { state: GpuProbeState.TIMEOUT }) }],
    ["connected", { connected: false }],
    ["errors", { errors: [] }],
    ["departure", { departure: create(HiveDepartureSchema, { reason: "drain", workersLeftRunning: 2, leftAt: timestampFromMs(1) }) }],
    ["owner_queen_id", { ownerQueenId: "queen-b" }],
  ])("encode the hive again when %s changed", (_name, change) => {
    const before = status({ departure: create(HiveDepartureSchema, { reason: "drain", workersLeftRunning: 1, leftAt: timestampFromMs(1) }) });
    hiveStatusBytes(before);
    decodesTo(status({ departure: before.departure, ...change }));
  });

  it("encode a new hello's info apart from the old one's", () => {
    hiveStatusBytes(status());
    const renamed = create(HiveInfoSchema, { ...info, hostname: "renamed.local" });
    decodesTo(status({ info: renamed }));
    decodesTo(status());
  });

  it("name every field of HiveStatus as stable or moving", () => {
    expect(HiveStatusSchema.fields.map((f) => f.name).sort()).toEqual([...STABLE_FIELDS, ...MOVING_FIELDS].sort());
  });

  it("write devices that came from a hive as their bytes, and keep the stable part when they change", () => {
    const fromHive = (usedGiB: number, index = 0) => {
      const device = makeDevice("h1", index, { usedGiB, utilizationPct: usedGiB });
      rememberWireBytes(device, toBinary(GpuDeviceSchema, device));
      return device;
    };
    const first = status({ devices: [fromHive(1), fromHive(2, 1)], memoryAvailableBytes: 5n });
    decodesTo(first);
    expect(stablePartSource(info)).toBe(first);
    decodesTo(status({ devices: [fromHive(3), fromHive(4, 1)], memoryAvailableBytes: 0n }));
    decodesTo(status({ devices: [fromHive(3)], memoryAvailableBytes: undefined }));
    decodesTo(status({ devices: [] }));
    expect(stablePartSource(info)).toBe(first);
    // A device without bytes of its own (not decoded from a report): the devices go into the stable part.
    decodesTo(status({ devices: [fromHive(5), makeDevice("h1", 1)] }));
    expect(stablePartSource(info)).not.toBe(first);
    decodesTo(status({ devices: [fromHive(6), fromHive(7, 1)] }));
  });

  it("write a device's bytes as they came, even where toBinary would write them otherwise", () => {
    const device = makeDevice("h1", 0, { usedGiB: 9 });
    // The same device with its fields in another order on the wire, as another encoder may write them.
    const reordered = Buffer.concat([toBinary(GpuDeviceSchema, create(GpuDeviceSchema, { uuid: device.uuid })), toBinary(GpuDeviceSchema, { ...device, uuid: "" })]);
    rememberWireBytes(device, reordered);
    expect(Buffer.from(hiveStatusBytes(status({ devices: [device] }))).includes(reordered)).toBe(true);
    decodesTo(status({ devices: [device] }));
  });

  it("are what toBinary writes when nothing but the moving fields' order differs", () => {
    const s = status({ lastSeen: undefined, ownerQueenId: "", errors: [], memoryAvailableBytes: undefined });
    expect(hiveStatusBytes(s)).toEqual(toBinary(HiveStatusSchema, s));
  });
});
