import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";

/**
 * Server interceptor: an error that is not a ConnectError is a defect (handlers answer every
 * expected failure with a status). It is logged once, with its stack and the method, and the
 * client gets INTERNAL without internals. Works for unary and streaming responses.
 */
export function unexpectedErrorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const translate = (err: unknown): ConnectError => {
      if (err instanceof ConnectError) return err;
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
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        try {
          yield* messages;
        } catch (err) {
          throw translate(err);
        }
      })(),
    };
  };
}
