import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { seededRandom } from "../../helpers/seeded-random.js";
import { binaryCases, jsonCases } from "./hostile-messages.js";
import { envelope, rawCall, rawSession, type Protocol, type RawCall } from "./raw-call.js";

// Every method of the given services gets every hostile case in every protocol, from one seed.
// A decodable request must get a clear answer: a code other than INTERNAL or UNKNOWN (or success);
// no request may go unanswered; an oversized one gets RESOURCE_EXHAUSTED.

// A fixed default keeps CI's verdict from depending on a draw; HOSTILE_SEED=random explores.
const DEFAULT_SEED = 20_261_207;

/** The seed of this run (printed in each test name and failure): HOSTILE_SEED, a fresh one for "random", else the default. */
export const HOSTILE_SEED = seedOf(process.env.HOSTILE_SEED);

function seedOf(value: string | undefined): number {
  if (value === undefined || value === "") return DEFAULT_SEED;
  if (value === "random") return Math.floor(Math.random() * 2 ** 31);
  const seed = Number(value);
  if (!Number.isSafeInteger(seed)) throw new Error(`HOSTILE_SEED must be an integer or "random", got ${JSON.stringify(value)}`);
  return seed;
}

const UNCLEAR = new Set(["Internal", "Unknown"]);
const CALL_TIMEOUT_MS = 3_000;
const CONCURRENCY = 8;

export interface FuzzOptions {
  /** The server's largest accepted message (readMaxBytes). */
  readMaxBytes: number;
  /** Headers on every call (a credential). */
  headers?: Record<string, string>;
  /** Leave out the "plain" random message for these methods (one that might be a valid write). */
  noPlain?: (method: DescMethod) => boolean;
  /** The one code a decodable, not oversized call to this method must get (UNAUTHENTICATED without a credential). */
  expect?: (method: DescMethod) => string | undefined;
  /** The one code every call to this method must get whatever its body, oversized too (refused from its headers). */
  refused?: (method: DescMethod) => string | undefined;
  /** Services this server does not serve: every call to them must get UNIMPLEMENTED, whatever its body. */
  unserved?: DescService[];
}

export interface FuzzResult {
  /** "method [protocol] case: code" for each call that broke the rule. */
  failures: string[];
  /** Every answer, "Code" → count, for the report. */
  codes: Map<string, number>;
  /** Calls that were accepted (OK, or a stream's first message), by method. */
  accepted: Map<string, number>;
  calls: number;
}

interface PlannedCall extends RawCall {
  label: string;
  /** The code it must get; undefined: any clear one. */
  expect?: string;
  decodable: boolean;
}

function plan(method: DescMethod, rand: () => number, opts: FuzzOptions): PlannedCall[] {
  const path = `/${method.parent.typeName}/${method.name}`;
  const streaming = method.methodKind !== "unary";
  const base = { path, streaming, timeoutMs: CALL_TIMEOUT_MS, headers: opts.headers };
  const out: PlannedCall[] = [];
  for (const c of binaryCases(method.input, rand)) {
    if (c.name === "plain" && opts.noPlain?.(method)) continue;
    for (const protocol of ["grpc", "connect-proto"] as Protocol[]) out.push({ ...base, protocol, body: c.body, label: `${path} [${protocol}] ${c.name}`, decodable: c.decodable });
  }
  for (const c of jsonCases(method.input, rand)) {
    out.push({ ...base, protocol: "connect-json", body: Buffer.from(c.body, "utf8"), label: `${path} [connect-json] ${c.name}`, decodable: c.decodable });
  }
  // Invalid UTF-8 in the JSON text itself.
  out.push({ ...base, protocol: "connect-json", body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), label: `${path} [connect-json] invalid UTF-8 text`, decodable: false });
  const over = opts.readMaxBytes + 1024;
  // An envelope that claims more than the limit (the rest never comes), and one really that large.
  out.push({ ...base, protocol: "grpc", body: new Uint8Array(), wire: envelope(new Uint8Array(64), 0, over), label: `${path} [grpc] envelope claims ${over} bytes`, decodable: true, expect: "ResourceExhausted" });
  out.push({ ...base, protocol: "grpc", body: new Uint8Array(over), label: `${path} [grpc] ${over}-byte message`, decodable: true, expect: "ResourceExhausted" });
  out.push({ ...base, protocol: "connect-proto", body: new Uint8Array(over), label: `${path} [connect-proto] ${over}-byte message`, decodable: true, expect: "ResourceExhausted" });
  return out;
}

function violation(call: PlannedCall, code: string): string | undefined {
  if (code === "NO_ANSWER") return "no answer";
  if (call.expect) return code === call.expect ? undefined : `expected ${call.expect}`;
  if (!call.decodable) return undefined;
  if (UNCLEAR.has(code)) return "a decodable request got an unclear code";
  if (!/^[A-Z][A-Za-z]+$/.test(code)) return "a decodable request got no code";
  return undefined;
}

/** Runs the whole plan against url, CONCURRENCY calls at a time, on a fresh HTTP/2 session per method. */
export async function fuzzServices(url: string, services: DescService[], seed: number, opts: FuzzOptions): Promise<FuzzResult> {
  const rand = seededRandom(seed);
  const result: FuzzResult = { failures: [], codes: new Map(), accepted: new Map(), calls: 0 };
  for (const service of services) {
    for (const method of service.methods) {
      const expected = opts.expect?.(method);
      const unserved = opts.unserved?.includes(service);
      const refused = unserved ? "Unimplemented" : opts.refused?.(method);
      const calls = plan(method, rand, opts).map((c) => (refused ? { ...c, expect: refused } : expected && c.decodable && !c.expect ? { ...c, expect: expected } : c));
      const record = (call: PlannedCall, code: string) => {
        result.calls++;
        result.codes.set(code, (result.codes.get(code) ?? 0) + 1);
        if (code === "OK" || code === "MESSAGE") result.accepted.set(method.name, (result.accepted.get(method.name) ?? 0) + 1);
        const why = violation(call, code);
        if (why) result.failures.push(`${call.label}: ${code} (${why}; HOSTILE_SEED=${seed})`);
      };
      // Oversized calls one at a time, each on its own connection: several megabytes in flight at once
      // on one session pass Node's maxSessionMemory, and it refuses new streams (ENHANCE_YOUR_CALM).
      const oversized = calls.filter((c) => c.expect === "ResourceExhausted");
      const bulk = calls.filter((c) => !oversized.includes(c));
      let session = rawSession(url);
      // Over a cap the server may close the connection: the next call gets a new one.
      const current = () => (session.closed || session.destroyed ? (session = rawSession(url)) : session);
      try {
        let next = 0;
        const worker = async () => {
          while (next < bulk.length) {
            const call = bulk[next++];
            record(call, await rawCall(current(), call));
          }
        };
        await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      } finally {
        session.destroy();
      }
      for (const call of oversized) {
        const own = rawSession(url);
        try {
          record(call, await rawCall(own, call));
        } finally {
          own.destroy();
        }
      }
    }
  }
  return result;
}

/** One line of codes for HOSTILE_REPORT. */
export function describeCodes(result: FuzzResult): string {
  return [...result.codes].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${n}`).join(", ");
}
