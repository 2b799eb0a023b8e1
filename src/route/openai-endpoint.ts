import type { HiveStatus } from "../../gen/apiary/v1/queen_pb.js";
import type { WorkerTelemetry } from "../../gen/apiary/v1/telemetry_pb.js";
import { isLoopbackHost } from "../rpc/tls/listen-safety.js";

/** Labels naming a worker's OpenAI-compatible API when its engine metrics endpoint does not. */
export const OPENAI_URL_LABEL = "apiary.io/openai-url";
export const OPENAI_PORT_LABEL = "apiary.io/openai-port";

/**
 * The base URL ("http://host:port", no /v1) of a worker's OpenAI-compatible API, or undefined:
 * the label apiary.io/openai-url, else apiary.io/openai-port on the hive's host, else the origin of
 * the engine metrics endpoint the hive scrapes (vLLM, SGLang, llama.cpp and TGI serve /metrics and
 * the API on one port). A loopback host is the hive's own machine: it becomes the host of the
 * hive's endpoint when that is an address others can reach. A URL naming any other host is ignored:
 * labels and metrics URLs are the worker's (or its spawner's) claim, and a worker must not make the
 * router forward prompts to a machine of its choosing.
 */
export function openAiBaseUrl(worker: WorkerTelemetry, hive: HiveStatus | undefined): string | undefined {
  const hiveHost = reachableHiveHost(hive);
  const label = worker.labels[OPENAI_URL_LABEL];
  if (label !== undefined) return originOf(label, hiveHost, hive);
  const port = worker.labels[OPENAI_PORT_LABEL];
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return undefined;
    return `http://${hiveHost ?? "127.0.0.1"}:${Number(port)}`;
  }
  const metrics = worker.engineLoad?.endpoint;
  return metrics ? originOf(metrics, hiveHost, hive) : undefined;
}

function originOf(text: string, hiveHost: string | undefined, hive: HiveStatus | undefined): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  if (!isLoopbackHost(url.hostname) && !hiveHostNames(hive).has(bare(url.hostname))) return undefined;
  if (hiveHost !== undefined && isLoopbackHost(url.hostname)) url.hostname = hiveHost;
  const path = url.pathname.replace(/\/+$/, "").replace(/\/(metrics|v1)$/, "");
  return `${url.origin}${path}`;
}

const bare = (host: string): string => host.toLowerCase().replace(/^\[|\]$/g, "");

/** The names the hive's own machine goes by: its endpoint's host and its hostname. */
function hiveHostNames(hive: HiveStatus | undefined): Set<string> {
  const names = new Set<string>();
  const endpoint = hive?.info?.endpoint;
  if (endpoint) {
    try {
      names.add(bare(new URL(endpoint.includes("://") ? endpoint : `http://${endpoint}`).hostname));
    } catch {
      // no endpoint host
    }
  }
  if (hive?.info?.hostname) names.add(bare(hive.info.hostname));
  names.delete("");
  names.delete("0.0.0.0");
  names.delete("::");
  return names;
}

/** The hive endpoint's host when it is neither loopback nor a wildcard; undefined otherwise. */
function reachableHiveHost(hive: HiveStatus | undefined): string | undefined {
  const endpoint = hive?.info?.endpoint;
  if (!endpoint) return undefined;
  let host: string;
  try {
    host = new URL(endpoint.includes("://") ? endpoint : `http://${endpoint}`).hostname;
  } catch {
    return undefined;
  }
  const name = bare(host);
  if (name === "" || name === "0.0.0.0" || name === "::" || isLoopbackHost(name)) return undefined;
  return host;
}
