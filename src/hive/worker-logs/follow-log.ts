import { closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import { pause } from "../../common/wait.js";

export interface LogChunk {
  data: Uint8Array;
  offset: number;
  /** The file was truncated or replaced since the previous chunk: this one starts from its beginning. */
  restarted: boolean;
}

export interface FollowOptions {
  start: number;
  follow: boolean;
  maxChunkBytes: number;
  /** Ends the reading (client gone, hive shutting down). */
  signal: AbortSignal;
  /** True once no more output is coming (the worker ended and will not restart). */
  ended: () => boolean;
  /** How often a followed log is checked for new output; default 200 ms. */
  pollMs?: number;
}

function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/**
 * Reads a log from `start` in chunks of at most maxChunkBytes; with follow, keeps reading new
 * output like `tail -F`: a file that shrank (logrotate copytruncate) is read again from 0, and a
 * file replaced under its name (rotation by rename) is finished and then the new one is read from 0.
 * Output written to a truncated file past the old offset before the next check is indistinguishable
 * from growth (tail -F has the same limit); the check runs every pollMs.
 */
export async function* followLog(path: string, options: FollowOptions): AsyncGenerator<LogChunk> {
  const pollMs = options.pollMs ?? 200;
  let fd = openSync(path, "r");
  let ino = fstatSync(fd).ino;
  let offset = Math.min(options.start, fstatSync(fd).size);
  let restarted = false;
  const buf = Buffer.allocUnsafe(options.maxChunkBytes);
  try {
    while (!options.signal.aborted) {
      const endedBefore = options.ended();
      const n = readSync(fd, buf, 0, buf.length, offset);
      if (n > 0) {
        yield { data: Uint8Array.prototype.slice.call(buf, 0, n), offset, restarted };
        offset += n;
        restarted = false;
        continue;
      }
      if (!options.follow) return;
      const current = inodeOf(path);
      if (current !== undefined && current !== ino) {
        // Renamed away and a new file took the name: the old one is read to its end (above), now the new one.
        closeSync(fd);
        fd = openSync(path, "r");
        ino = fstatSync(fd).ino;
        offset = 0;
        restarted = true;
        continue;
      }
      if (fstatSync(fd).size < offset) {
        offset = 0;
        restarted = true;
        continue;
      }
      if (endedBefore) return;
      await pause(pollMs, options.signal);
    }
  } finally {
    closeSync(fd);
  }
}
