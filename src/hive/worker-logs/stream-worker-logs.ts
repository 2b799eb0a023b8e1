import { create } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { closeSync, fstatSync, openSync } from "node:fs";
import { StreamWorkerLogsResponseSchema, type StreamWorkerLogsRequest, type StreamWorkerLogsResponse } from "../../../gen/apiary/v1/hive_pb.js";
import { checkWorkerId } from "../../contracts/worker-fields.js";
import { followLog } from "./follow-log.js";
import type { LogCheckpoints } from "./log-checkpoints.js";
import { tailOffset } from "./tail-offset.js";

export const DEFAULT_LOG_CHUNK_BYTES = 64 * 1024;
export const MAX_LOG_CHUNK_BYTES = 1024 * 1024;
const MAX_TAIL_LINES = 1_000_000;
const MAX_SINCE_MS = 10 * 365 * 24 * 3600_000;

/** What the log RPC needs of the hive. */
export interface WorkerLogSource {
  /** Where the worker's log is (whether or not the worker still runs). */
  logPathOf(workerId: string): string;
  /** True while the worker runs or waits to be restarted: following goes on. */
  isActive(workerId: string): boolean;
  checkpoints: LogCheckpoints;
  /** Check interval of a followed log; default 200 ms. */
  pollMs?: number;
}

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

interface ValidLogRequest {
  workerId: string;
  follow: boolean;
  tailLines?: number;
  sinceMs?: number;
  maxChunkBytes: number;
}

export function validateLogRequest(req: StreamWorkerLogsRequest): ValidLogRequest {
  checkWorkerId("worker_id", req.workerId);
  if (req.tailLines !== undefined && req.tailLines > MAX_TAIL_LINES) throw invalid(`tail_lines: must be at most ${MAX_TAIL_LINES}`);
  let sinceMs: number | undefined;
  if (req.since) {
    const { seconds, nanos } = req.since;
    if (seconds < 0n || nanos < 0) throw invalid("since: must not be negative");
    if (nanos > 999_999_999) throw invalid("since.nanos: must be below 1e9");
    sinceMs = durationMs(req.since);
    if (sinceMs > MAX_SINCE_MS) throw invalid("since: must be at most 10 years");
  }
  const maxChunkBytes = req.maxChunkBytes ?? DEFAULT_LOG_CHUNK_BYTES;
  if (maxChunkBytes < 1 || maxChunkBytes > MAX_LOG_CHUNK_BYTES) throw invalid(`max_chunk_bytes: must be 1–${MAX_LOG_CHUNK_BYTES}`);
  return { workerId: req.workerId, follow: req.follow, tailLines: req.tailLines, sinceMs, maxChunkBytes };
}

/** Where to start: after `since` (by the checkpoints), then the last `tail` lines of that. */
function startOffset(path: string, req: ValidLogRequest, source: WorkerLogSource, nowMs: number): number {
  const fd = openSync(path, "r");
  try {
    const { size, mtimeMs } = fstatSync(fd);
    const floor = req.sinceMs === undefined ? 0 : source.checkpoints.offsetSince(path, nowMs - req.sinceMs, size, mtimeMs);
    return req.tailLines === undefined ? floor : tailOffset(fd, size, req.tailLines, floor);
  } finally {
    closeSync(fd);
  }
}

/** HiveService.StreamWorkerLogs. */
export async function* streamWorkerLogs(
  source: WorkerLogSource | undefined,
  request: StreamWorkerLogsRequest,
  context: HandlerContext,
  shutdown: AbortSignal,
): AsyncGenerator<StreamWorkerLogsResponse> {
  if (!source) throw new ConnectError("this hive does not serve worker logs", Code.Unimplemented);
  const req = validateLogRequest(request);
  if (shutdown.aborted) throw new ConnectError("hive is shutting down", Code.Unavailable);
  const path = source.logPathOf(req.workerId);
  let start: number;
  try {
    start = startOffset(path, req, source, Date.now());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new ConnectError(`worker_id: no log of a worker named ${req.workerId} on this hive`, Code.NotFound);
    }
    throw new ConnectError(`log_path: cannot read ${path}: ${String(err)}`, Code.Internal);
  }
  const stop = AbortSignal.any([context.signal, shutdown]);
  for await (const chunk of followLog(path, {
    start,
    follow: req.follow,
    maxChunkBytes: req.maxChunkBytes,
    signal: stop,
    ended: () => !source.isActive(req.workerId),
    pollMs: source.pollMs,
  })) {
    yield create(StreamWorkerLogsResponseSchema, { data: chunk.data, offset: BigInt(chunk.offset), restarted: chunk.restarted, logPath: path });
  }
  if (shutdown.aborted && !context.signal.aborted && req.follow) throw new ConnectError("hive is shutting down", Code.Unavailable);
}
