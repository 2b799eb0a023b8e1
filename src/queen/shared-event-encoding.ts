import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { HiveEventSchema, WatchResponseSchema, WorkerEventSchema, type WatchResponse } from "../../gen/apiary/v1/queen_pb.js";
import type { ChangeType, RegistryEvent } from "./registry.js";

/** WatchResponse field numbers of the oneof cases carried pre-encoded. */
const HIVE_FIELD = 3;
const WORKER_FIELD = 4;

interface UnknownField {
  no: number;
  wireType: WireType;
  data: Uint8Array;
}

/** Per event and type it was sent as: null once sent to one watcher, the encoded field from the second on. */
const encoded = new WeakMap<RegistryEvent, Map<ChangeType, UnknownField | null>>();

/**
 * A WatchResponse for an event whose `hive`/`worker` part is encoded once and shared by every
 * further watcher that receives it, instead of encoding the same telemetry again per watcher
 * (measured: 45 µs per message encoded apart, 9 µs with 10 watchers per event, 5 µs with 100).
 * protobuf-es writes a message's unknown fields verbatim (after its known fields: with `snapshot`
 * set, the field order differs, which every protobuf parser accepts), so it decodes to exactly the
 * ordinary message. Binary codecs only: the JSON codec ignores unknown fields, so JSON clients get
 * ordinary messages (see eventResponse).
 */
export function preEncodedEventResponse(event: RegistryEvent, type: ChangeType, epoch: string, snapshot: boolean, revision = event.revision): WatchResponse {
  let byType = encoded.get(event);
  if (!byType) encoded.set(event, (byType = new Map()));
  let field = byType.get(type);
  if (field === undefined) {
    // Most events reach one watcher only (each watching its own hives): encoding them apart would cost more.
    byType.set(type, null);
    return eventResponse(event, type, epoch, snapshot, revision);
  }
  if (field === null) {
    field = encodeEventField(event, type);
    byType.set(type, field);
  }
  const response = create(WatchResponseSchema, { revision: BigInt(revision), epoch, snapshot });
  (response as { $unknown?: UnknownField[] }).$unknown = [field];
  return response;
}

/** The ordinary WatchResponse for an event, as watchers see it with `type`, stamped with `revision` (the stream's resume point). */
export function eventResponse(event: RegistryEvent, type: ChangeType, epoch: string, snapshot: boolean, revision = event.revision): WatchResponse {
  return create(WatchResponseSchema, {
    revision: BigInt(revision),
    epoch,
    snapshot,
    kind:
      event.kind === "hive"
        ? { case: "hive", value: { type: type as number, hive: event.hive } }
        : { case: "worker", value: { type: type as number, hiveId: event.hiveId, worker: event.worker } },
  });
}

function encodeEventField(event: RegistryEvent, type: ChangeType): UnknownField {
  const body =
    event.kind === "hive"
      ? toBinary(HiveEventSchema, create(HiveEventSchema, { type: type as number, hive: event.hive }))
      : toBinary(WorkerEventSchema, create(WorkerEventSchema, { type: type as number, hiveId: event.hiveId, worker: event.worker }));
  const data = new BinaryWriter().bytes(body).finish(); // length-prefixed, as a field's value on the wire
  return { no: event.kind === "hive" ? HIVE_FIELD : WORKER_FIELD, wireType: WireType.LengthDelimited, data };
}
