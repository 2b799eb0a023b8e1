import type { Message } from "@bufbuild/protobuf";

/**
 * The bytes a decoded message arrived in, kept with the message for as long as it lives, so that
 * Watch sends a hive's workers on as they came instead of encoding them again for every event.
 * The bytes decode to exactly the message (it was decoded from them and is never changed).
 *
 * A non-enumerable symbol property, not a WeakMap: the queen decodes thousands of workers a
 * second, and a WeakMap that size is an ephemeron table the GC walks at every collection and
 * rehashes as it grows (a burst of reports spent half a second in WeakMap.set in the soak's
 * profile). Non-enumerable, so a spread copy of the message (which may then differ) does not
 * carry them.
 */
const WIRE_BYTES = Symbol("apiary.wireBytes");

type WithWireBytes = Message & { [WIRE_BYTES]?: Uint8Array };

export function rememberWireBytes(message: Message, bytes: Uint8Array): void {
  const kept = message as WithWireBytes;
  if (Object.prototype.hasOwnProperty.call(kept, WIRE_BYTES)) kept[WIRE_BYTES] = bytes;
  else Object.defineProperty(kept, WIRE_BYTES, { value: bytes, writable: true, enumerable: false, configurable: true });
}

export function wireBytesOf(message: Message): Uint8Array | undefined {
  return (message as WithWireBytes)[WIRE_BYTES];
}
