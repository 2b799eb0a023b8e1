import { Code, ConnectError } from "@connectrpc/connect";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";

/** Rejects a request: INVALID_ARGUMENT with a message that names the field. */
export function invalid(field: string, problem: string): ConnectError {
  return new ConnectError(`${field}: ${problem}`, Code.InvalidArgument);
}

/**
 * Runs `checks`, which name fields relative to `field` (e.g. "pid"), and names the field in full
 * ("report.workers[3].pid") in the error of one that fails. Checks run on every report: building
 * every full field name up front was most of what validation allocated.
 */
export function checkWithin<T>(field: string, value: T, checks: (value: T) => void): void {
  try {
    checks(value);
  } catch (err) {
    throw err instanceof ConnectError && err.code === Code.InvalidArgument ? new ConnectError(`${field}.${err.rawMessage}`, Code.InvalidArgument) : err;
  }
}

const PRINTABLE_ID = /^[\x21-\x7e]+$/;
const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;

/** An identifier: non-empty, printable ASCII without spaces, at most `max` characters. */
export function checkId(field: string, value: string, max = 253): void {
  if (value.length === 0) throw invalid(field, "must not be empty");
  if (value.length > max) throw invalid(field, `must be at most ${max} characters, got ${value.length}`);
  if (!PRINTABLE_ID.test(value)) throw invalid(field, "must be printable ASCII without spaces");
}

export function checkText(field: string, value: string, max: number): void {
  if (value.length > max) throw invalid(field, `must be at most ${max} characters, got ${value.length}`);
}

export function checkCount(field: string, length: number, max: number): void {
  if (length > max) throw invalid(field, `at most ${max} entries allowed, got ${length}`);
}

/** A finite number within [min, max]; `undefined` (absent) passes. */
export function checkNumber(field: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  if (!Number.isFinite(value)) throw invalid(field, `must be a finite number, got ${value}`);
  if (value < min || value > max) throw invalid(field, `must be within ${min}..${max}, got ${value}`);
}

export function checkBigint(field: string, value: bigint | undefined, max: bigint): void {
  if (value === undefined) return;
  if (value < 0n || value > max) throw invalid(field, `must be within 0..${max}, got ${value}`);
}

/** A known value of an enum whose valid numbers are min..max (protobuf enums are open: any int32 parses). */
export function checkEnum(field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(field, `unknown value ${value}`);
}

export function checkTimestamp(field: string, value: Timestamp | Duration | undefined, allowNegative = false): void {
  if (!value) return;
  if (!Number.isInteger(value.nanos) || value.nanos < 0 || value.nanos > 999_999_999) {
    throw invalid(`${field}.nanos`, `must be within 0..999999999, got ${value.nanos}`);
  }
  if (!allowNegative && value.seconds < 0n) throw invalid(`${field}.seconds`, `must not be negative, got ${value.seconds}`);
  if (value.seconds > 315_537_897_599n || value.seconds < -315_537_897_599n) throw invalid(`${field}.seconds`, "out of range");
}

/** Label maps: keys like Kubernetes label keys ([prefix/]name), values printable and short. */
export function checkLabels(field: string, labels: { readonly [k: string]: string }, maxEntries = 64): void {
  let count = 0;
  for (const key in labels) {
    if (++count > maxEntries) checkCount(field, Object.keys(labels).length, maxEntries);
    if (key.length === 0 || key.length > 317 || !LABEL_KEY.test(key)) {
      throw invalid(`${field}[${JSON.stringify(key)}]`, "key must be 1..317 characters of [A-Za-z0-9._/-], starting and ending alphanumeric");
    }
    const value = labels[key];
    if (value.length > 1024) throw invalid(`${field}[${JSON.stringify(key)}]`, "value must be at most 1024 characters");
    if (/[\x00-\x1f\x7f]/.test(value)) throw invalid(`${field}[${JSON.stringify(key)}]`, "value must not contain control characters");
  }
}

/** Milliseconds of a Duration. */
export function durationToMs(d: Duration): number {
  return Number(d.seconds) * 1000 + d.nanos / 1e6;
}
