import { Code, ConnectError, type Transport } from "@connectrpc/connect";

export interface FailoverTarget {
  url: string;
  transport: Transport;
}

/** Failures that say "this server is gone or too slow", where another queen may answer. */
export function isFailoverCode(code: Code): boolean {
  return code === Code.Unavailable || code === Code.DeadlineExceeded;
}

/**
 * One transport over several queens: a unary call goes to the queen that answered last and, on
 * UNAVAILABLE (connection refused, a queen without its cluster lease, …) or DEADLINE_EXCEEDED,
 * to the next, each try with the call's own full deadline; other answers are final. When every
 * queen failed the error lists each one's reason. Streams go to the queen that answered last
 * (a resuming Watch picks queens itself: resuming-watch.ts).
 */
export function createFailoverTransport(targets: readonly FailoverTarget[]): Transport {
  if (targets.length === 0) throw new RangeError("failover transport: need at least one queen");
  if (targets.length === 1) return targets[0].transport;
  let preferred = 0;
  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const failures: { url: string; error: ConnectError }[] = [];
      for (let i = 0; i < targets.length; i++) {
        const index = (preferred + i) % targets.length;
        try {
          const response = await targets[index].transport.unary(method, signal, timeoutMs, header, input, contextValues);
          preferred = index;
          return response;
        } catch (err) {
          const error = ConnectError.from(err);
          if (signal?.aborted || !isFailoverCode(error.code)) throw err;
          failures.push({ url: targets[index].url, error });
        }
      }
      const last = failures[failures.length - 1].error;
      throw new ConnectError(failures.map((f) => `${f.url}: ${f.error.rawMessage}`).join("; "), last.code, undefined, undefined, last);
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      return targets[preferred].transport.stream(method, signal, timeoutMs, header, input, contextValues);
    },
  };
}
