import { readSync } from "node:fs";

const BLOCK = 64 * 1024;

/**
 * The offset where the last `lines` lines of the open file start (a final line without a newline
 * counts), scanning backwards block by block from `size` but never before `floor`.
 */
export function tailOffset(fd: number, size: number, lines: number, floor = 0): number {
  if (lines <= 0) return size;
  const buf = Buffer.allocUnsafe(BLOCK);
  let end = size;
  let seen = 0;
  let skipLast = true; // a newline ending the file closes the last line, it does not start one
  while (end > floor) {
    const start = Math.max(floor, end - BLOCK);
    const n = readSync(fd, buf, 0, end - start, start);
    for (let i = n - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) {
        skipLast = false;
        continue;
      }
      if (skipLast && start + i === size - 1) {
        skipLast = false;
        continue;
      }
      seen += 1;
      if (seen === lines) return start + i + 1;
    }
    end = start;
  }
  return floor;
}
