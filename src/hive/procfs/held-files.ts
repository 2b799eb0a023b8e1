import { closeSync, openSync, readFileSync, readSync } from "node:fs";

/** Reads a small file whole (throws as readFileSync does). */
export interface FileReader {
  read(path: string): string;
}

/** readFileSync: open, fstat, read, close on every read. */
export const plainFiles: FileReader = { read: (path) => readFileSync(path, "utf8") };

/** Errors of a descriptor whose file went away (a process that ended, a cgroup removed): open the path again. */
const GONE = new Set(["ESRCH", "ENODEV", "ENOENT", "EBADF"]);

/**
 * Reads kernel-generated files (/proc/<pid>/stat, cgroup control files) every tick through
 * descriptors kept open: one pread from offset 0 regenerates the file, where readFileSync costs
 * four system calls (measured here: 9–19 µs per file, most of a 64-worker tick).
 *
 * A read through a kept descriptor whose file went away (its process ended, its cgroup was
 * removed and perhaps made again at the same path) opens the path again once, so a read says what
 * readFileSync would say now. Descriptors not read since the previous `sweep()` are closed: the
 * hive sweeps once per tick, so what stays open is what one tick reads, and at most `maxOpen`
 * (beyond it, or when the process is out of descriptors, reads fall back to readFileSync).
 */
export class HeldFiles implements FileReader {
  private readonly held = new Map<string, { fd: number; used: boolean }>();
  private buffer = Buffer.allocUnsafe(16 * 1024);

  constructor(private readonly maxOpen = 512) {}

  read(path: string): string {
    const entry = this.held.get(path);
    if (entry !== undefined) {
      entry.used = true;
      try {
        return this.readAll(entry.fd);
      } catch (err) {
        this.drop(path, entry.fd);
        if (!GONE.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
      }
    }
    if (this.held.size >= this.maxOpen) return readFileSync(path, "utf8");
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      // Out of descriptors: read the ordinary way (which says so itself if it cannot either).
      if ((err as NodeJS.ErrnoException).code === "EMFILE" || (err as NodeJS.ErrnoException).code === "ENFILE") return readFileSync(path, "utf8");
      throw err;
    }
    try {
      const text = this.readAll(fd);
      this.held.set(path, { fd, used: true });
      return text;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Closes the descriptors not read since the previous sweep. */
  sweep(): void {
    for (const [path, entry] of this.held) {
      if (entry.used) entry.used = false;
      else this.drop(path, entry.fd);
    }
  }

  /** Descriptors open now. */
  get size(): number {
    return this.held.size;
  }

  close(): void {
    for (const [path, entry] of this.held) this.drop(path, entry.fd);
  }

  private readAll(fd: number): string {
    let length = 0;
    for (;;) {
      const n = readSync(fd, this.buffer, length, this.buffer.length - length, length);
      if (n === 0) return this.buffer.toString("utf8", 0, length);
      length += n;
      if (length === this.buffer.length) {
        const bigger = Buffer.allocUnsafe(this.buffer.length * 2);
        this.buffer.copy(bigger, 0, 0, length);
        this.buffer = bigger;
      }
    }
  }

  private drop(path: string, fd: number): void {
    this.held.delete(path);
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}
