import { isIP } from "node:net";
import { hostname, networkInterfaces } from "node:os";
import { basename } from "node:path";

/** Labels that name a worker's engine metrics endpoint when SpawnWorker and the command line do not. */
export const METRICS_URL_LABEL = "apiary.io/metrics-url";
export const METRICS_PORT_LABEL = "apiary.io/metrics-port";

export class EndpointError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export interface EndpointRequest {
  url?: string;
  port?: number;
  disabled?: boolean;
  argv: readonly string[];
  labels: Readonly<Record<string, string>>;
}

/** The hive's own addresses: loopback, every interface address, the hostname. */
export function ownHosts(): Set<string> {
  const hosts = new Set(["localhost", "127.0.0.1", "::1", hostname().toLowerCase()]);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) hosts.add(a.address.toLowerCase());
  return hosts;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

/** Checks a metrics URL: http(s), loopback or one of this machine's own addresses; returns it normalised. */
export function checkMetricsUrl(field: string, text: string, own: Set<string> = ownHosts()): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new EndpointError(field, `not a URL: ${JSON.stringify(text.slice(0, 100))}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new EndpointError(field, "must be an http:// or https:// URL");
  if (url.username || url.password) throw new EndpointError(field, "must not carry credentials");
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (!isLoopback(host) && !own.has(host)) throw new EndpointError(field, `host ${host} is neither loopback nor this hive's own address`);
  if (url.pathname === "/") url.pathname = "/metrics";
  return url.toString();
}

function checkPort(field: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new EndpointError(field, "must be a port 1–65535");
  return port;
}

function flagValue(argv: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag && i + 1 < argv.length) return argv[i + 1];
    if (argv[i].startsWith(`${flag}=`)) return argv[i].slice(flag.length + 1);
  }
  return undefined;
}

/** vLLM, llama.cpp, SGLang and TGI as started from their own command lines. */
function engineFromArgv(argv: readonly string[]): { defaultPort: number; portFlag: string } | undefined {
  const names = argv.slice(0, 4).map((a) => basename(a));
  const has = (x: string) => argv.includes(x);
  const vllm = names.some((n) => n === "vllm") || argv.some((a) => a.startsWith("vllm.entrypoints"));
  if (vllm && (has("serve") || argv.some((a) => a.startsWith("vllm.entrypoints")))) return { defaultPort: 8000, portFlag: "--port" };
  if (names.some((n) => n === "llama-server" || n === "llama-server.exe") && has("--metrics")) return { defaultPort: 8080, portFlag: "--port" };
  if ((names.includes("sglang") || argv.some((a) => a.startsWith("sglang.launch_server"))) && has("--enable-metrics")) return { defaultPort: 30000, portFlag: "--port" };
  if (names.includes("text-generation-launcher")) {
    return flagValue(argv, "--prometheus-port") !== undefined ? { defaultPort: 9000, portFlag: "--prometheus-port" } : { defaultPort: 3000, portFlag: "--port" };
  }
  return undefined;
}

/** The host to scrape for an engine bound to `host` (unset or a wildcard: loopback). */
function scrapeHost(host: string | undefined, own: Set<string>): string | undefined {
  if (host === undefined || host === "" || host === "0.0.0.0" || host === "::" || host === "localhost") return "127.0.0.1";
  const h = host.toLowerCase();
  if (isLoopback(h) || own.has(h)) return isIP(h) === 6 ? `[${h}]` : h;
  return undefined;
}

/**
 * Where the hive scrapes a worker's engine metrics, or "" for nowhere: SpawnWorker's url or port,
 * else the engine's own command line, else the worker's labels. Throws EndpointError (naming the
 * request field or label) for an endpoint given explicitly that is not acceptable.
 */
export function resolveMetricsEndpoint(req: EndpointRequest, own: Set<string> = ownHosts()): string {
  if (req.disabled) return "";
  if (req.url !== undefined && req.url !== "") return checkMetricsUrl("engine_metrics_url", req.url, own);
  if (req.port !== undefined) return `http://127.0.0.1:${checkPort("engine_metrics_port", req.port)}/metrics`;
  const engine = engineFromArgv(req.argv);
  if (engine) {
    const portText = flagValue(req.argv, engine.portFlag);
    const port = portText === undefined ? engine.defaultPort : Number(portText);
    const host = scrapeHost(flagValue(req.argv, "--host") ?? flagValue(req.argv, "--hostname"), own);
    if (host && Number.isInteger(port) && port >= 1 && port <= 65535) return `http://${host}:${port}/metrics`;
  }
  const labelUrl = req.labels[METRICS_URL_LABEL];
  if (labelUrl !== undefined) return checkMetricsUrl(`labels[${METRICS_URL_LABEL}]`, labelUrl, own);
  const labelPort = req.labels[METRICS_PORT_LABEL];
  if (labelPort !== undefined) {
    if (!/^\d{1,5}$/.test(labelPort)) throw new EndpointError(`labels[${METRICS_PORT_LABEL}]`, "must be a port 1–65535");
    return `http://127.0.0.1:${checkPort(`labels[${METRICS_PORT_LABEL}]`, Number(labelPort))}/metrics`;
  }
  return "";
}
