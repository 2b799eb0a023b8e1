import type { Message } from "@bufbuild/protobuf";

/**
 * The bytes a decoded message arrived in, kept with the message for as long as it lives, so that
 * Watch sends a hive's workers on as they came instead of encoding them again for every event.
 * The bytes decode to exactly the message (it was decoded from them and is never changed).
 */
const wireBytes = new WeakMap<Message, Uint8Array>();

export function rememberWireBytes(message: Message, bytes: Uint8Array): void {
  wireBytes.set(message, bytes);
}

export function wireBytesOf(message: Message): Uint8Array | undefined {
  return wireBytes.get(message);
}
