// /proc files are generated in memory by the kernel: a synchronous read costs microseconds, while
// fs/promises pays for open, read and close on the thread pool (10x the CPU per tick, measured).
import { plainFiles, type FileReader } from "./held-files.js";

/** Storage I/O of a process (and its reaped children), from /proc/<pid>/io. */
export interface ProcIo {
  readBytes: number;
  writeBytes: number;
}

export type ProcIoResult = { ok: true; io: ProcIo } | { ok: false; error: string };

export function parseProcIo(text: string): ProcIo | undefined {
  const read = /^read_bytes:\s*(\d+)$/m.exec(text);
  const write = /^write_bytes:\s*(\d+)$/m.exec(text);
  if (!read || !write) return undefined;
  return { readBytes: Number(read[1]), writeBytes: Number(write[1]) };
}

/** Reads /proc/<pid>/io. Never throws: EACCES, a vanished process or bad text become an error. */
export async function readProcIo(pid: number, procRoot = "/proc", files: FileReader = plainFiles): Promise<ProcIoResult> {
  const path = `${procRoot}/${pid}/io`;
  try {
    const io = parseProcIo(files.read(path));
    return io ? { ok: true, io } : { ok: false, error: `${path}: no read_bytes/write_bytes` };
  } catch (err) {
    return { ok: false, error: `${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
}
