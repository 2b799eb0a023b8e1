import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { DenialLog } from "./denial-log.js";
import type { Identity } from "./identity.js";
import { callerKey, peerKey } from "./authenticator.js";

export interface FirstMessageCheckOptions<M> {
  /** A client- or bidi-streaming method; other methods pass untouched. */
  method: DescMethod;
  /** Why the first message contradicts the caller's identity, or undefined when it does not. */
  check: (message: M, caller: Identity) => string | undefined;
  logger: Logger;
}

/**
 * An interceptor that holds a stream's first message against the caller the server authenticated
 * (a Heartbeat hello that names another hive): PERMISSION_DENIED, logged once per peer and reason.
 * Calls without an identity (authentication off) and later messages pass straight through. The
 * server that owns the method hands the rule in; this is only the mechanism.
 */
export function firstMessageCheck<M>(opts: FirstMessageCheckOptions<M>): Interceptor {
  const denials = new DenialLog(opts.logger);
  const service = opts.method.parent.typeName;
  return (next) => async (req) => {
    const caller = req.contextValues.get(callerKey);
    if (!req.stream || caller === undefined || req.method.name !== opts.method.name || req.service.typeName !== service) return next(req);
    const address = req.contextValues.get(peerKey).address;
    return next({ ...req, message: checkedFirst(req.message as AsyncIterable<M>, (message) => {
      const why = opts.check(message, caller);
      if (why === undefined) return;
      denials.denied(address, why, { code: Code[Code.PermissionDenied] });
      throw new ConnectError(why, Code.PermissionDenied);
    }) } as typeof req);
  };
}

/** The messages with `check` run on the first one; later messages pass straight through. */
function checkedFirst<M>(messages: AsyncIterable<M>, check: (message: M) => void): AsyncIterable<M> {
  return {
    [Symbol.asyncIterator]: () => {
      const it = messages[Symbol.asyncIterator]();
      let first = true;
      return {
        next: async () => {
          const result = await it.next();
          if (first && !result.done) {
            first = false;
            check(result.value);
          }
          return result;
        },
        return: (value?: unknown) => (it.return ? it.return(value) : Promise.resolve({ done: true as const, value: undefined })) as Promise<IteratorResult<M>>,
      };
    },
  };
}
