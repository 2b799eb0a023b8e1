import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import type { RouteCandidate, WorkerSource } from "../../src/route/route-candidate.js";
import { startRouter, type Router, type RouterOptions } from "../../src/route/router.js";
import { demoWorker } from "../hive/hive-test-helpers.js";

export const quiet = pino({ level: "silent" });

/** A WorkerSource whose candidates the test sets (the proxy tests; the cluster tests use the informer). */
export class StaticSource implements WorkerSource {
  workers: RouteCandidate[] = [];
  candidates(model: string): readonly RouteCandidate[] {
    return this.workers.filter((w) => w.model === model);
  }
  models(): string[] {
    return [...new Set(this.workers.map((w) => w.model))].sort();
  }
}

export function candidate(key: string, baseUrl: string, load: RouteCandidate["load"] = { waiting: 0, running: 0, kvCacheUsageRatio: 0 }, model = "m"): RouteCandidate {
  return { key, model, baseUrl, load, reportMark: "1" };
}

export async function routerOver(source: WorkerSource, opts: Partial<RouterOptions> = {}): Promise<Router> {
  return startRouter({ host: "127.0.0.1", port: 0, logger: quiet, source, ...opts });
}

/** An in-process HTTP server the test scripts request by request. */
export async function scriptedWorker(handler: http.RequestListener): Promise<{ url: string; server: http.Server; close(): Promise<void> }> {
  const server = http.createServer(handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A demo worker child process in engine mode on a port it picks; resolves once it says it is ready. */
export async function demoWorkerProcess(model: string, load = "0,0", tokenMs = 5): Promise<{ child: ChildProcess; url: string; port: number }> {
  const child = spawn(process.execPath, [demoWorker, "--model", model, "--engine", "vllm", "--engine-port", "0", "--engine-load", load, "--token-ms", String(tokenMs)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /metrics=http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`demo worker exited (${code}) before it was ready: ${out}`)));
  });
  return { child, port, url: `http://127.0.0.1:${port}` };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** POSTs JSON with node:http and collects the whole answer. */
export function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(typeof body === "string" ? body : JSON.stringify(body));
  });
}

/** Opens a POST and resolves with the response as soon as its headers are in (the body unread). */
export function open(url: string, body: unknown): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers: { "content-type": "application/json" } }, (res) => resolve({ req, res }));
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}
