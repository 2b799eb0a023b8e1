import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { observeIterable } from "../common/observed-iterable.js";

/**
 * Server interceptor: an error that is not a ConnectError is a defect (handlers answer every
 * expected failure with a status). It is logged once, with its stack and the method, and the
 * client gets INTERNAL without internals. Works for unary and streaming responses.
 * A status message that quotes a huge request field is cut to MAX_STATUS_MESSAGE characters: the
 * grpc-message trailer of a 64 KiB quoted string overflows a client's header limits, and the
 * client sees a reset stream instead of the code.
 */
export function unexpectedErrorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const translate = (err: unknown): ConnectError => {
      if (err instanceof ConnectError) return boundedMessage(err);
      logger.error({ err, method }, "unexpected error in an RPC handler");
      return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
    };
    let res;
    try {
      res = await next(req);
    } catch (err) {
      throw translate(err);
    }
    if (!res.stream) return res;
    return { ...res, message: observeIterable(res.message, { mapError: translate }) };
  };
}

export const MAX_STATUS_MESSAGE = 1_024;

function boundedMessage(err: ConnectError): ConnectError {
  if (err.rawMessage.length <= MAX_STATUS_MESSAGE) return err;
  const cut = new ConnectError(`${err.rawMessage.slice(0, MAX_STATUS_MESSAGE)}… (cut)`, err.code, err.metadata, undefined, err.cause);
  cut.details.push(...err.details);
  return cut;
}
