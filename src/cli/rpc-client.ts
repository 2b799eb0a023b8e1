import { createClient, ConnectError, Code, type Client } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { createApiaryTransport, normalizeAddress } from "../rpc/transport.js";
import { CliError } from "./command.js";

export interface Connected<S extends DescService> {
  url: string;
  client: Client<S>;
}

/** A client of `service` at a user-given address ("host:port" or a URL). */
export function connect<S extends DescService>(service: S, address: string): Connected<S> {
  const url = normalizeAddress(address);
  return { url, client: createClient(service, createApiaryTransport(url)) };
}

/**
 * A call that reached a server which does not serve the wanted service (a hive's port given as
 * the queen's); cli.ts asks the server what it is before printing.
 */
export class WrongServerError extends CliError {
  constructor(message: string, readonly wanted: "queen" | "hive", readonly url: string) {
    super(message);
  }
}

/** Turns an RPC failure into one line for the user: unreachable servers name their address. */
export function rpcFailure(err: unknown, what: string, url: string): CliError {
  const ce = ConnectError.from(err);
  if (ce.code === Code.Unavailable || ce.code === Code.DeadlineExceeded) {
    return new CliError(`cannot reach the ${what} at ${url}: ${ce.rawMessage}`);
  }
  if (ce.code === Code.Unimplemented && (what === "queen" || what === "hive")) {
    return new WrongServerError(`${what} at ${url} answered Unimplemented: ${ce.rawMessage}`, what, url);
  }
  return new CliError(`${what} at ${url} answered ${Code[ce.code]}: ${ce.rawMessage}`);
}

/** Default deadline for one unary call from the command line. */
export const CALL_TIMEOUT_MS = 10_000;
