import { checkCount, checkLabels, checkText, invalid } from "./field-checks.js";

/**
 * The rules for a worker's fields, one set for both sides: SpawnWorker refuses what breaks them,
 * and the queen leaves out a reported worker that breaks them. A hive therefore never starts a
 * worker its queen would refuse.
 */
export const WORKER_FIELD_LIMITS = {
  workerIdMax: 128,
  modelMax: 1024,
  gpuUuidMax: 128,
  maxGpus: 64,
  maxArgv: 1024,
  argMax: 65_536,
  memoryMaxBytes: 2n ** 62n,
} as const;

const WORKER_ID = /^[A-Za-z0-9._-]+$/;
const GPU_ID = /^[\x21-\x2b\x2d-\x7e]+$/; // printable ASCII, no space, no comma
const CONTROL = /[\x00-\x1f\x7f]/;

/** 1–128 characters of [A-Za-z0-9._-], not "." or ".." (it names files and cgroups). */
export function checkWorkerId(field: string, id: string): void {
  if (id.length === 0) throw invalid(field, "must not be empty");
  if (id.length > WORKER_FIELD_LIMITS.workerIdMax || !WORKER_ID.test(id)) {
    throw invalid(field, `must be 1–${WORKER_FIELD_LIMITS.workerIdMax} characters of [A-Za-z0-9._-]`);
  }
  if (id === "." || id === "..") throw invalid(field, "must not be '.' or '..'");
}

/** At most 1024 characters, no control characters. */
export function checkModel(field: string, model: string): void {
  checkText(field, model, WORKER_FIELD_LIMITS.modelMax);
  if (CONTROL.test(model)) throw invalid(field, "must not contain control characters");
}

/** At most 64 GPUs, each 1–128 printable ASCII characters without spaces or commas (CUDA_VISIBLE_DEVICES). */
export function checkGpuIds(field: string, ids: readonly string[]): void {
  checkCount(field, ids.length, WORKER_FIELD_LIMITS.maxGpus);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id.length === 0 || id.length > WORKER_FIELD_LIMITS.gpuUuidMax || !GPU_ID.test(id)) {
      throw invalid(`${field}[${i}]`, `must be 1–${WORKER_FIELD_LIMITS.gpuUuidMax} printable characters without spaces or commas`);
    }
  }
}

/** Label keys like Kubernetes label keys, short printable values (the same rules as hive labels). */
export function checkWorkerLabels(field: string, labels: { readonly [k: string]: string }): void {
  checkLabels(field, labels);
}

/** At most 1024 arguments of at most 64 KiB each, without NUL. */
export function checkArgv(field: string, argv: readonly string[]): void {
  checkCount(field, argv.length, WORKER_FIELD_LIMITS.maxArgv);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    // The element's name is built only for an error.
    if (arg.length > WORKER_FIELD_LIMITS.argMax) checkText(`${field}[${i}]`, arg, WORKER_FIELD_LIMITS.argMax);
    if (arg.includes("\0")) throw invalid(`${field}[${i}]`, "must not contain NUL");
  }
}

export function checkMemoryLimit(field: string, bytes: bigint | undefined): void {
  if (bytes === undefined) return;
  if (bytes <= 0n) throw invalid(field, "must be > 0");
  if (bytes > WORKER_FIELD_LIMITS.memoryMaxBytes) throw invalid(field, `must be at most ${WORKER_FIELD_LIMITS.memoryMaxBytes}`);
}
