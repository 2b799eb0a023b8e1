import { isLoopbackHost } from "../rpc/tls/listen-safety.js";
import { CliError } from "./command.js";

/** A hive to dial: the address, and its id when the queen told where it listens (`hello.hive.endpoint`). */
export interface HiveAddress {
  address: string;
  hiveId?: string;
}

/**
 * A bearer token is a password: it goes over plaintext http:// only to this machine (loopback),
 * where the wire cannot be read by others. Elsewhere the CLI refuses before dialling.
 */
export function checkTokenDestination(url: string): void {
  const u = new URL(url);
  if (u.protocol === "http:" && !isLoopbackHost(u.hostname)) {
    throw new CliError(`refusing to send the token over plaintext ${u.protocol}// to ${u.host}: use https:// (a token goes over http:// only to loopback)`);
  }
}

/**
 * An endpoint a hive advertised to the queen is the hive's claim, not the operator's: a CLI that
 * uses TLS dials it only over https:// (where the certificate must then name spiffe://apiary/hive/<id>),
 * so a hive cannot draw the user's credentials to a plaintext listener of its choosing.
 */
export function checkLearnedHiveEndpoint(hive: Required<HiveAddress>, url: string, tls: boolean): void {
  if (tls && !url.startsWith("https:")) {
    throw new CliError(
      `hive ${hive.hiveId} told the queen a plaintext endpoint (${hive.address}); refusing to send credentials to it over http:// ` +
        "(the hive should advertise https://; --hive-addr dials an address you give)",
    );
  }
}
