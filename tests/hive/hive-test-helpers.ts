import { once, type EventEmitter } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { PACKAGE_ROOT } from "../../src/common/package-root.js";
import { pino, type Logger } from "pino";

export const repoRoot = PACKAGE_ROOT;
export const fakeNvidiaSmi = path.join(repoRoot, "examples/fake-nvidia-smi/fake-nvidia-smi");
export const demoWorker = path.join(repoRoot, "examples/demo-worker/demo-worker.mjs");

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** A file the fake nvidia-smi reads its mode from on every call ("ok", "hang", …). */
export function gpuModeFile(dir: string, mode = "ok"): { file: string; set(mode: string): void } {
  const file = path.join(dir, "fake-nvidia-smi.mode");
  writeFileSync(file, mode);
  return { file, set: (next) => writeFileSync(file, next) };
}


/** The next `event` of an emitter, or a failure naming it after the bound. */
export async function nextEvent<T = unknown>(emitter: EventEmitter, event: string, boundMs = 10_000): Promise<T> {
  const [value] = (await once(emitter, event, { signal: AbortSignal.timeout(boundMs) }).catch((error: unknown) => {
    throw new Error(`no "${event}" event within ${boundMs} ms`, { cause: error });
  })) as [T];
  return value;
}

export interface CapturedLogs {
  logger: Logger;
  lines: Record<string, unknown>[];
  /** Lines at warn (40) or above whose msg matches. */
  warnings(match: RegExp): Record<string, unknown>[];
}

/** A pino logger writing into memory, for assertions on what was logged. */
export function captureLogs(level = "debug"): CapturedLogs {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split("\n")) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return {
    logger: pino({ level }, stream),
    lines,
    warnings: (match) => lines.filter((l) => (l.level as number) >= 40 && match.test(String(l.msg))),
  };
}
