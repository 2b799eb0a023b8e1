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
 * hive's endpoint when that is an address others can reach.
 */
export function openAiBaseUrl(worker: WorkerTelemetry, hive: HiveStatus | undefined): string | undefined {
  const hiveHost = reachableHiveHost(hive);
  const label = worker.labels[OPENAI_URL_LABEL];
  if (label !== undefined) return originOf(label, hiveHost);
  const port = worker.labels[OPENAI_PORT_LABEL];
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return undefined;
    return `http://${hiveHost ?? "127.0.0.1"}:${Number(port)}`;
  }
  const metrics = worker.engineLoad?.endpoint;
  return metrics ? originOf(metrics, hiveHost) : undefined;
}

function originOf(text: string, hiveHost: string | undefined): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  if (hiveHost !== undefined && isLoopbackHost(url.hostname)) url.hostname = hiveHost;
  const path = url.pathname.replace(/\/+$/, "").replace(/\/(metrics|v1)$/, "");
  return `${url.origin}${path}`;
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
  const bare = host.replace(/^\[|\]$/g, "");
  if (bare === "" || bare === "0.0.0.0" || bare === "::" || isLoopbackHost(bare)) return undefined;
  return host;
}
