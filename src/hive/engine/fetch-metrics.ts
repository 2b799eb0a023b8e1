import { Agent, request, type ClientRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

export const DEFAULT_SCRAPE_DEADLINE_MS = 300;
/** Real expositions are 10–100 KB; vLLM with many LoRA adapters or ranks stays well under this. */
export const DEFAULT_SCRAPE_MAX_BYTES = 4 * 1024 * 1024;

export type FetchOutcome = { ok: true; body: string } | { ok: false; error: string };

// Connections to loopback engines are kept between ticks: one scrape per worker per second.
const agent = new Agent({ keepAlive: true, maxSockets: 1, keepAliveMsecs: 10_000 });
// An engine serving https (vLLM --ssl-certfile) is verified like any server: the system CAs.
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 1, keepAliveMsecs: 10_000 });

/**
 * GETs one /metrics with a hard deadline over the whole exchange (connect, headers, body) and a
 * cap on the body; past either the request is destroyed. Never rejects.
 */
export function fetchMetrics(url: string, opts: { deadlineMs: number; maxBytes: number }): Promise<FetchOutcome> {
  return new Promise((resolve) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (outcome: FetchOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return finish({ ok: false, error: `not a URL: ${url}` });
    }
    const headers = { accept: "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5,*/*;q=0.1" };
    let req: ClientRequest;
    try {
      // node:http throws synchronously for an https: URL; that threw out of the tick and blanked every worker's load.
      if (target.protocol === "https:") req = httpsRequest(target, { method: "GET", agent: httpsAgent, headers });
      else if (target.protocol === "http:") req = request(target, { method: "GET", agent, headers });
      else return finish({ ok: false, error: `${url}: only http:// and https:// are scraped` });
    } catch (err) {
      return finish({ ok: false, error: `${url}: ${(err as Error).message}` });
    }
    timer = setTimeout(() => {
      finish({ ok: false, error: `${url}: no complete answer within ${opts.deadlineMs} ms` });
      req.destroy();
    }, opts.deadlineMs);
    req.on("error", (err) => finish({ ok: false, error: `${url}: ${err.message}` }));
    req.on("response", (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return finish({ ok: false, error: `${url}: HTTP ${res.statusCode}` });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) {
          finish({ ok: false, error: `${url}: response larger than ${opts.maxBytes} bytes, cut` });
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => finish({ ok: true, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (err) => finish({ ok: false, error: `${url}: ${err.message}` }));
    });
    req.end();
  });
}
