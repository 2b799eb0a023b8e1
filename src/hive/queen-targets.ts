import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { Transport } from "@connectrpc/connect";
import { awaitWithin } from "../common/wait.js";

/** One queen the heartbeat can try: a URL, and the address it is pinned to when its name has several. */
export interface QueenEndpoint {
  url: string;
  /** Set when the URL's host name resolved to several addresses and this endpoint is one of them. */
  address?: string;
  transport: Transport;
}

/** The queens of one reconnect round, in the order to try them. */
export interface QueenRound {
  round(): Promise<QueenEndpoint[]>;
}

export type LookupAll = (host: string) => Promise<{ address: string; family: number }[]>;
export type TransportFactory = (url: string, pinned?: { address: string; family: number }) => Transport;

export interface QueenTargetsOptions {
  urls: string[];
  transport: TransportFactory;
  /** Default dns.lookup(host, { all: true }). */
  lookup?: LookupAll;
  /** The most one round waits for a name to resolve; default 2000 ms. */
  lookupDeadlineMs?: number;
}

const defaultLookup: LookupAll = (host) => lookup(host, { all: true });
/** Transports kept for addresses a name once resolved to; beyond this the oldest are dropped. */
const MAX_CACHED_TRANSPORTS = 64;

/**
 * The configured queens (`--queen a,b,c`), each URL whose host is a name that resolves to several
 * A/AAAA records expanded into one endpoint per address; names are resolved again at every round,
 * so a DNS change is followed. A name with one address (or none: the lookup failed) stays one
 * endpoint on the URL, resolved by the connection as a single queen always was.
 */
export class QueenTargets implements QueenRound {
  private readonly lookup: LookupAll;
  private readonly transports = new Map<string, Transport>();

  constructor(private readonly options: QueenTargetsOptions) {
    if (options.urls.length === 0) throw new RangeError("queen targets: need at least one URL");
    this.lookup = options.lookup ?? defaultLookup;
    // Made now, so that a bad URL or TLS setting fails the start rather than a reconnect round.
    for (const url of options.urls) this.transportFor(url, undefined);
  }

  async round(): Promise<QueenEndpoint[]> {
    const endpoints: QueenEndpoint[] = [];
    for (const url of this.options.urls) {
      for (const pinned of await this.addresses(url)) {
        endpoints.push({ url, ...(pinned ? { address: pinned.address } : {}), transport: this.transportFor(url, pinned) });
      }
    }
    return endpoints;
  }

  private async addresses(url: string): Promise<({ address: string; family: number } | undefined)[]> {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
    if (isIP(host) !== 0) return [undefined];
    const outcome = await awaitWithin(this.lookup(host).catch(() => []), this.options.lookupDeadlineMs ?? 2000);
    const records = outcome.settled ? outcome.value : [];
    const unique = records.filter((r, i) => records.findIndex((o) => o.address === r.address) === i);
    return unique.length > 1 ? unique : [undefined];
  }

  private transportFor(url: string, pinned: { address: string; family: number } | undefined): Transport {
    const key = pinned ? `${url} ${pinned.address}` : url;
    let transport = this.transports.get(key);
    if (!transport) {
      if (this.transports.size >= MAX_CACHED_TRANSPORTS) this.transports.delete(this.transports.keys().next().value!);
      transport = this.options.transport(url, pinned);
      this.transports.set(key, transport);
    }
    return transport;
  }
}

/** One queen, one transport: the single-queen heartbeat. */
export function singleQueen(url: string, transport: Transport): QueenRound {
  const endpoints = [{ url, transport }];
  return { round: () => Promise.resolve(endpoints) };
}

/** How an endpoint appears in logs: the URL, with the pinned address when there is one. */
export function endpointName(endpoint: QueenEndpoint): string {
  return endpoint.address ? `${endpoint.url} (${endpoint.address})` : endpoint.url;
}
