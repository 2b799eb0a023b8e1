import type * as http from "node:http";
import type { Peer } from "../auth/authenticator.js";
import type { EarlyRefusal } from "./early-refusal.js";

/** An RPC as the request gate sees it: which method, its headers and its connection, no body yet. */
export interface GatedCall {
  service: string;
  method: string;
  /** The request's headers, names in lower case (HTTP/1.1 and HTTP/2 alike). */
  headers: http.IncomingHttpHeaders;
  peer: Peer;
}

/**
 * A server owner's own decision on a call from its headers, taken in the request gate after
 * authentication and before any body byte is read, on every protocol and path (gRPC, gRPC-Web,
 * Connect over HTTP/2 and HTTP/1.1, raw fast paths): undefined lets the call on, an EarlyRefusal
 * answers it in its own protocol.
 */
export type HeaderCheck = (call: GatedCall) => EarlyRefusal | undefined;

/** The one value of a header, or undefined when it is absent or repeated. */
export function singleHeader(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === "string" ? value : undefined;
}
