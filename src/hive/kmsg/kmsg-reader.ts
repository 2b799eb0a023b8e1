import { closeSync, constants, openSync, readSync } from "node:fs";

export interface KmsgReaderOptions {
  /** Default /dev/kmsg; a regular file or FIFO works too (tests, the fake kmsg). */
  path?: string;
  /** The most reads one poll() makes, and about the most lines it returns; default 2000. */
  maxReadsPerPoll?: number;
  /** The most time one poll() reads for; default 20 ms. */
  deadlineMs?: number;
  /** How long after a failed open (or read) the next poll() tries again; default 60 s. */
  retryMs?: number;
  now?: () => number;
}

export interface KmsgPoll {
  /** Complete lines read by this poll (continuation lines of a kmsg record, starting with a space, left out). */
  lines: string[];
  /** Why the log cannot be read, standing until a later open succeeds; undefined while it reads. */
  error: string | undefined;
}

const READ_SIZE = 8192; // a /dev/kmsg read must hold one whole record (the kernel caps them at 1 KiB … 8 KiB)
const MAX_PARTIAL = 64 * 1024;

/**
 * Reads the kernel log without ever blocking: the file is opened O_NONBLOCK, and every poll()
 * makes at most maxReadsPerPoll reads within deadlineMs, so a flood of kernel messages is read
 * over several ticks, never in one. What the log held before the first poll is skipped (read and
 * discarded, as /dev/kmsg cannot be seeked from Node): only events that happen while the hive runs count.
 *
 * /dev/kmsg answers one record per read, EAGAIN when none is left and EPIPE when the ring buffer
 * overwrote records not yet read (reading goes on at the oldest one left). A regular file answers
 * 0 at its end and more once appended to; a FIFO answers EAGAIN or 0 when empty.
 */
export class KmsgReader {
  readonly path: string;
  private readonly maxReads: number;
  private readonly deadlineMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  private readonly buf = Buffer.allocUnsafe(READ_SIZE);
  private fd: number | undefined;
  private skipping = true;
  private partial = "";
  private error: string | undefined;
  private retryAtMs = 0;
  private lostRecords = 0;

  constructor(opts: KmsgReaderOptions = {}) {
    this.path = opts.path ?? "/dev/kmsg";
    this.maxReads = opts.maxReadsPerPoll ?? 2000;
    this.deadlineMs = opts.deadlineMs ?? 20;
    this.retryMs = opts.retryMs ?? 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** Times the kernel overwrote records before they were read (EPIPE). */
  overruns(): number {
    return this.lostRecords;
  }

  poll(): KmsgPoll {
    const lines: string[] = [];
    if (this.fd === undefined && !this.open()) return { lines, error: this.error };
    const fd = this.fd as number;
    const deadline = this.now() + this.deadlineMs;
    // Bounded in reads, lines (a file read returns many) and time; the caller parses every line returned.
    for (let reads = 0; reads < this.maxReads && lines.length < this.maxReads && this.now() <= deadline; reads++) {
      let n: number;
      try {
        n = readSync(fd, this.buf, 0, READ_SIZE, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EAGAIN" || code === "EWOULDBLOCK") {
          this.skipping = false;
          break;
        }
        if (code === "EPIPE") {
          this.lostRecords++;
          continue;
        }
        this.fail(`reading ${this.path}: ${(e as Error).message}`);
        break;
      }
      if (n === 0) {
        this.skipping = false;
        break;
      }
      if (this.skipping) continue;
      this.split(this.buf.toString("utf8", 0, n), lines);
    }
    return { lines, error: this.error };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): boolean {
    if (this.now() < this.retryAtMs) return false;
    try {
      this.fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
      this.error = undefined;
      this.skipping = true;
      this.partial = "";
      return true;
    } catch (e) {
      this.fail(`cannot open ${this.path}: ${(e as Error).message}`);
      return false;
    }
  }

  private fail(message: string): void {
    this.close();
    this.error = message;
    this.retryAtMs = this.now() + this.retryMs;
  }

  private split(chunk: string, out: string[]): void {
    const parts = (this.partial + chunk).split("\n");
    this.partial = parts.pop() ?? "";
    if (this.partial.length > MAX_PARTIAL) this.partial = ""; // a line without end is not an Xid line
    for (const line of parts) if (line !== "" && !line.startsWith(" ")) out.push(line);
  }
}
