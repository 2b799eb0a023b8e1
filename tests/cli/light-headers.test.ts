import { describe, expect, it } from "vitest";
import { installLightHeaders, LightHeaders } from "../../src/cli/light-headers.js";
import { seededRandom } from "../helpers/seeded-random.js";

/** Runs `f` on a Headers of each kind; both must return the same thing or throw the same error class. */
function both<T>(native: Headers, light: Headers, f: (h: Headers) => T): T | string {
  const outcome = (h: Headers): T | string => {
    try {
      return f(h);
    } catch (err) {
      return `threw ${(err as Error).constructor.name}`;
    }
  };
  const a = outcome(native);
  expect(outcome(light)).toEqual(a);
  return a;
}

const dump = (h: Headers) => ({ entries: [...h], keys: [...h.keys()], values: [...h.values()], cookies: h.getSetCookie(), each: eachOf(h) });
function eachOf(h: Headers): string[] {
  const seen: string[] = [];
  h.forEach((value, key, parent) => seen.push(`${key}=${value}:${parent === h}`));
  return seen;
}

const NAMES = ["grpc-timeout", "Content-Type", "content-type", "set-cookie", "Set-Cookie", "x-b", "x-a", "a", "", "bad name", "x:y", "ü", "x-tab\t", "1", "~!#$%&'*+-.^_`|"];
const VALUES = ["v", " padded\t", "", "a, b", "\r\nx", "nul\0", "é", "\u20ac", "line\nbreak", "  ", "application/grpc+proto", "\ttab-only\t"];

describe("LightHeaders (the CLI's Headers, so a client command does not load undici)", () => {
  it("gives what Node's Headers gives for 2,000 random operation sequences, errors included", () => {
    const seed = Number(process.env.HEADERS_SEED ?? 20261207);
    const random = seededRandom(seed);
    const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)];
    for (let round = 0; round < 2000; round++) {
      const native = new Headers();
      const light = new LightHeaders();
      for (let op = 0; op < 8; op++) {
        const name = pick(NAMES);
        const value = pick(VALUES);
        switch (Math.floor(random() * 6)) {
          case 0: both(native, light, (h) => h.append(name, value)); break;
          case 1: both(native, light, (h) => h.set(name, value)); break;
          case 2: both(native, light, (h) => h.delete(name)); break;
          case 3: both(native, light, (h) => h.get(name)); break;
          case 4: both(native, light, (h) => h.has(name)); break;
          default: both(native, light, dump);
        }
      }
      expect(dump(light), `seed ${seed}, round ${round}`).toEqual(dump(native));
    }
  });

  it("is built from a record, pairs, another Headers (of either kind) or nothing, as Node's is", () => {
    const inits: unknown[] = [
      undefined, {}, { b: "2", A: "1", "set-cookie": "c=1" }, [["x", "1"], ["X", "2"], ["set-cookie", "a"], ["set-cookie", "b"]],
      new Headers([["k", "v"]]), new LightHeaders([["k", "v"]]), new Map([["m", "1"]]),
      [["only-one"]], [["a", "b", "c"]], "not-headers", null, 42, { "bad name": "v" }, [["ok", "bad\nvalue"]], [[" ", "v"]],
    ];
    for (const init of inits) {
      const outcome = (make: () => Headers) => {
        try {
          return dump(make());
        } catch (err) {
          return `threw ${(err as Error).constructor.name}`;
        }
      };
      expect(outcome(() => new LightHeaders(init as HeadersInit)), String(init)).toEqual(outcome(() => new Headers(init as HeadersInit)));
    }
  });

  it("is accepted where a Headers is expected: as a fetch Request's headers and copied into Node's Headers", () => {
    const light = new LightHeaders({ "grpc-timeout": "10000m", "set-cookie": "a=1" });
    light.append("set-cookie", "b=2");
    expect([...new Headers(light)]).toEqual([...light]);
    const req = new Request("http://127.0.0.1/", { headers: light });
    expect(req.headers.get("grpc-timeout")).toBe("10000m");
    expect(req.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(Object.prototype.toString.call(light)).toBe("[object Headers]");
  });

  it("is installed only while Node's Headers is still its unread lazy global, so one process never mixes two classes", () => {
    const native = Headers; // reading it replaces Node's lazy accessor by the class
    const before = Object.getOwnPropertyDescriptor(globalThis, "Headers")!;
    try {
      expect(installLightHeaders()).toBe(false);
      expect(globalThis.Headers).toBe(native);
      Object.defineProperty(globalThis, "Headers", { get: () => native, set: () => {}, configurable: true, enumerable: false });
      expect(installLightHeaders()).toBe(true);
      expect(globalThis.Headers).toBe(LightHeaders);
    } finally {
      Object.defineProperty(globalThis, "Headers", before);
    }
  });
});
