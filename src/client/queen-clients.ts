import { createClient, type Client } from "@connectrpc/connect";
import { QueenService } from "../../gen/apiary/v1/queen_pb.js";
import { parseQueenList } from "../common/queen-addresses.js";
import { wantsTls, type ClientCredentials } from "../rpc/tls/client-credentials.js";
import { createApiaryTransport } from "../rpc/transport.js";

export type QueenClient = Client<typeof QueenService>;

/**
 * One QueenService client per queen of a list ("a:7833,b:7833" or an array): scheme-less
 * addresses are https:// when the credentials ask for TLS; TLS clients verify the queen's SPIFFE
 * ID; an http:// (loopback) queen of the list gets the token only.
 */
export function queenClients(addresses: string | readonly string[], credentials: ClientCredentials = {}): QueenClient[] {
  const text = typeof addresses === "string" ? addresses : addresses.join(",");
  return parseQueenList(text, wantsTls(credentials)).map((url) =>
    createClient(QueenService, createApiaryTransport(url, { credentials: forQueen(url, credentials) })),
  );
}

function forQueen(url: string, credentials: ClientCredentials): ClientCredentials {
  if (url.startsWith("http:")) return credentials.token !== undefined ? { token: credentials.token } : {};
  return { expectServer: { kind: "queen" }, ...credentials };
}
