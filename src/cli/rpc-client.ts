import { readFileSync } from "node:fs";
import { createClient, ConnectError, Code, type Client } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { normalizeAddress } from "../common/queen-addresses.js";
import { createApiaryTransport, type ClientCredentials } from "../rpc/transport.js";
import { wantsTls } from "../rpc/tls/client-credentials.js";
import { selectedContext } from "../client/client-config.js";
import { createFailoverTransport } from "../client/failover-transport.js";
import { parseQueenList } from "../common/queen-addresses.js";
import { CliError, UsageError, type FlagValues } from "./command.js";
import type { queenFlags } from "./common-flags.js";
import { durationFlag } from "./parse-values.js";
import { checkTokenDestination, checkLearnedHiveEndpoint, type HiveAddress } from "./token-destination.js";

export interface Connected<S extends DescService> {
  /** The server's URL; several queens' URLs joined by commas (for messages). */
  url: string;
  /** Unary calls fail over between the queens (failover-transport.ts). */
  client: Client<S>;
  /** One client per queen, in the configured order, for streams that pick their queen (resuming-watch.ts). */
  clients: { url: string; client: Client<S> }[];
  /** The deadline for each unary call: --request-timeout, else the context's, else CALL_TIMEOUT_MS. */
  timeoutMs: number;
}

/** Default deadline for one unary call from the command line. */
export const CALL_TIMEOUT_MS = 10_000;
const DEFAULT_QUEEN_ADDRESS = "127.0.0.1:7833";

export interface ConnectionSettings {
  /** `urls` joined by commas. */
  url: string;
  /** The queens (`--queen a,b,c`, a context's list) or the one hive address, normalized. */
  urls: string[];
  credentials: ClientCredentials;
  timeoutMs: number;
  /** The config file's context the settings came from, if any. */
  context: string | undefined;
}

/** The connection flags (common-flags.ts queenFlags) a command has; the router builds them from its queen-prefixed ones. */
export type ConnectionFlags = Partial<Omit<FlagValues<typeof queenFlags>, "help">>;
type Flags = ConnectionFlags;
const str = (flags: Flags, name: keyof Flags): string | undefined => {
  const v = flags[name];
  return v !== "" ? v : undefined;
};

/**
 * Where and how to connect: each setting from its flag or variable (parseFlags merged those),
 * else the selected context, else the default. `hive` (a hive's endpoint) replaces the queen's.
 * Scheme-less addresses are https:// when a CA or client certificate is set; an http:// address
 * gets no TLS settings. Servers must prove who they are (a queen's or that hive's SPIFFE ID), and a
 * token goes over plaintext only to loopback (token-destination.ts).
 */
export async function resolveConnection(flags: Flags, hive?: HiveAddress): Promise<ConnectionSettings> {
  const address = hive?.address;
  const ctx = await selectedContext(str(flags, "context"));
  const s = ctx?.settings ?? {};
  const credentials: ClientCredentials = {};
  const caFile = str(flags, "ca") ?? s.ca;
  const certFile = str(flags, "cert") ?? s.cert;
  const keyFile = str(flags, "key") ?? s.key;
  if (caFile) credentials.caFile = caFile;
  if (certFile) credentials.certFile = certFile;
  if (keyFile) credentials.keyFile = keyFile;
  const tokenFile = str(flags, "token-file") ?? s["token-file"];
  warnTokenOnCommandLine(flags);
  const token = str(flags, "token") ?? (tokenFile !== undefined ? readToken(tokenFile) : undefined) ?? s.token;
  if (token) credentials.token = token;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError("--cert and --key go together (flags, APIARY_CERT/APIARY_KEY or the context)");
  const target = address ?? str(flags, "queen") ?? s.queen ?? DEFAULT_QUEEN_ADDRESS;
  let urls: string[];
  try {
    urls = address !== undefined ? [normalizeAddress(address, wantsTls(credentials))] : parseQueenList(target, wantsTls(credentials));
  } catch (err) {
    throw new UsageError(`apiary: ${(err as Error).message}`);
  }
  if (hive?.hiveId !== undefined) checkLearnedHiveEndpoint(hive as Required<HiveAddress>, urls[0], wantsTls(credentials));
  if (credentials.token !== undefined) for (const url of urls) checkTokenDestination(url);
  credentials.expectServer = hive ? { kind: "hive", ...(hive.hiveId !== undefined ? { name: hive.hiveId } : {}) } : { kind: "queen" };
  if (urls.every((u) => u.startsWith("http:"))) {
    delete credentials.caFile;
    delete credentials.certFile;
    delete credentials.keyFile;
  }
  const timeoutText = str(flags, "request-timeout") ?? s["request-timeout"];
  const timeoutMs = timeoutText === undefined ? CALL_TIMEOUT_MS : durationFlag("request-timeout", timeoutText)!;
  return { url: urls.join(","), urls, credentials, timeoutMs, context: ctx?.name };
}

/**
 * --token TOKEN is readable by every local user in /proc/<pid>/cmdline (and lands in shell
 * history); $APIARY_TOKEN (/proc/<pid>/environ is the owner's only) or --token-file is not.
 * A warning, not a refusal, so scripts keep working while they move.
 */
function warnTokenOnCommandLine(flags: Flags, env = process.env): void {
  const token = str(flags, "token");
  if (token !== undefined && env.APIARY_TOKEN !== token) {
    process.stderr.write("apiary: warning: --token on the command line is visible to every local user (ps, /proc); use --token-file FILE or $APIARY_TOKEN\n");
  }
}

function readToken(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch (err) {
    throw new CliError(`token file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * A client of `service`: the queens of the flags/context (unary calls fail over between them), or
 * `address` (a hive) with the same credentials.
 */
export async function connect<S extends DescService>(service: S, flags: Flags, hive?: HiveAddress): Promise<Connected<S>> {
  const settings = await resolveConnection(flags, hive);
  let targets;
  try {
    targets = settings.urls.map((url) => ({ url, transport: createApiaryTransport(url, { credentials: forUrl(url, settings.credentials) }) }));
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  return {
    url: settings.url,
    client: createClient(service, createFailoverTransport(targets)),
    clients: targets.map(({ url, transport }) => ({ url, client: createClient(service, transport) })),
    timeoutMs: settings.timeoutMs,
  };
}

/** An http:// (loopback) queen of a list that also has https:// ones gets the token only. */
function forUrl(url: string, credentials: ClientCredentials): ClientCredentials {
  if (!url.startsWith("http:")) return credentials;
  return credentials.token !== undefined ? { token: credentials.token } : {};
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
    return new CliError(`cannot reach the ${what} at ${url}: ${ce.rawMessage}${tlsHint(ce)}`);
  }
  if (ce.code === Code.Canceled && url.startsWith("https:")) {
    return new CliError(`the ${what} at ${url} closed the connection: ${ce.rawMessage} (is the client certificate issued by the CA it trusts, and not expired?)`);
  }
  if (ce.code === Code.Unauthenticated) {
    return new CliError(`${what} at ${url} answered UNAUTHENTICATED: ${ce.rawMessage} (give --cert/--key or --token, or a context: apiary config --help)`);
  }
  if (ce.code === Code.Unimplemented && (what === "queen" || what === "hive")) {
    return new WrongServerError(`${what} at ${url} answered Unimplemented: ${ce.rawMessage}`, what, url);
  }
  return new CliError(`${what} at ${url} answered ${Code[ce.code]}: ${ce.rawMessage}`);
}

function tlsHint(ce: ConnectError): string {
  const cause = String((ce.cause as Error | undefined)?.message ?? ce.rawMessage);
  if (/self[- ]signed|unable to verify|certificate/i.test(cause)) return " (TLS: give the cluster's CA with --ca)";
  return "";
}
