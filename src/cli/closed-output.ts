/**
 * `apiary watch | head -1`: once the reader closes the pipe, writes fail with EPIPE. Exit at once
 * and quietly, as Unix tools do, instead of printing a stack trace (141 = killed by SIGPIPE,
 * what a shell reports for such a tool).
 */
export function exitQuietlyOnClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE" || err.code === "ERR_STREAM_DESTROYED") process.exit(stream === process.stdout ? 141 : 1);
      throw err;
    });
  }
}
