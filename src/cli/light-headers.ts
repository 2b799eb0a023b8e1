/**
 * The fetch API's Headers class, as the WHATWG spec defines it, for the CLI's RPC clients.
 *
 * Why: connect builds every request's metadata with `new Headers()`, and Node 20's global Headers is
 * a lazy getter that loads all of undici (node:internal/deps/undici/undici) on first use: about
 * 25-35 ms of a 100-200 ms `apiary workers`, for a class the CLI uses a handful of times per call.
 * Commands that are short-lived RPC clients install this one instead (installLightHeaders), before
 * anything touched the global; servers keep Node's. tests/cli/light-headers.test.ts runs the same
 * operations on both and compares every result, errors included.
 */

// RFC 9110 token characters: what a header name may consist of.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// HTTP whitespace that is stripped from both ends of a value.
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
// After stripping: no NUL, CR or LF; and a ByteString holds nothing above U+00FF.
const BAD_VALUE = /[\0\r\n]|[^\0-\xFF]/;

function headerName(name: unknown, method: string): string {
  const text = byteString(name, method);
  if (!TOKEN.test(text)) throw new TypeError(`Headers.${method}: "${text}" is an invalid header name.`);
  return text.toLowerCase();
}

function headerValue(value: unknown, method: string, name: string): string {
  const text = byteString(value, method).replace(EDGE_WHITESPACE, "");
  if (BAD_VALUE.test(text)) throw new TypeError(`Headers.${method}: "${text}" is an invalid header value for "${name}".`);
  return text;
}

function byteString(v: unknown, method: string): string {
  if (typeof v === "symbol") throw new TypeError(`Headers.${method}: a symbol is not a string.`);
  return String(v);
}

export class LightHeaders implements Headers {
  // Lower-cased name -> its values in the order appended (set-cookie keeps them apart; others join).
  readonly #values = new Map<string, string[]>();

  constructor(init?: HeadersInit) {
    if (init === undefined) return;
    if (init === null || (typeof init !== "object" && typeof init !== "function")) {
      throw new TypeError("Headers constructor: expected a sequence of pairs or a record.");
    }
    if (Symbol.iterator in init) {
      for (const pair of init as Iterable<Iterable<string>>) {
        if (pair === null || typeof pair !== "object" || !(Symbol.iterator in pair)) throw new TypeError("Headers constructor: a header must be a [name, value] pair.");
        const entry = [...pair];
        if (entry.length !== 2) throw new TypeError(`Headers constructor: expected name/value pair to be length 2, found ${entry.length}.`);
        this.append(entry[0], entry[1]);
      }
      return;
    }
    for (const key of Reflect.ownKeys(init)) {
      const desc = Reflect.getOwnPropertyDescriptor(init, key);
      if (desc?.enumerable !== true) continue;
      if (typeof key === "symbol") throw new TypeError("Headers constructor: a header name must be a string.");
      this.append(key, (init as Record<string, string>)[key]);
    }
  }

  append(name: string, value: string): void {
    const key = headerName(name, "append");
    const text = headerValue(value, "append", name);
    const list = this.#values.get(key);
    if (list) list.push(text);
    else this.#values.set(key, [text]);
  }

  delete(name: string): void {
    this.#values.delete(headerName(name, "delete"));
  }

  get(name: string): string | null {
    return this.#values.get(headerName(name, "get"))?.join(", ") ?? null;
  }

  getSetCookie(): string[] {
    return [...(this.#values.get("set-cookie") ?? [])];
  }

  has(name: string): boolean {
    return this.#values.has(headerName(name, "has"));
  }

  set(name: string, value: string): void {
    const key = headerName(name, "set");
    this.#values.set(key, [headerValue(value, "set", name)]);
  }

  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    if (typeof callback !== "function") throw new TypeError("Headers.forEach: the callback is not a function.");
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }

  /** Sorted by name, values joined with ", " except set-cookie's, which come one entry each. */
  *entries(): HeadersIterator<[string, string]> {
    for (const key of [...this.#values.keys()].sort()) {
      const list = this.#values.get(key);
      if (list === undefined) continue; // deleted while iterating
      if (key === "set-cookie") for (const v of list) yield [key, v];
      else yield [key, list.join(", ")];
    }
  }

  *keys(): HeadersIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): HeadersIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): HeadersIterator<[string, string]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return "Headers";
  }
}

/**
 * Makes `Headers` this class for the rest of the process, unless Node's was already loaded (then it
 * stays, so no two Headers classes are ever in use). Returns whether it installed.
 */
export function installLightHeaders(): boolean {
  const desc = Object.getOwnPropertyDescriptor(globalThis, "Headers");
  // Node defines the global as an accessor that loads undici when read; once read it is a value.
  if (desc !== undefined && desc.get === undefined) return false;
  Object.defineProperty(globalThis, "Headers", { value: LightHeaders, writable: true, configurable: true, enumerable: false });
  return true;
}
