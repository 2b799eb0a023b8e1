import type * as http from "node:http";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Authenticator } from "../rpc/auth/authenticator.js";
import { createHttpRoutes, type HttpRequest, type HttpResponse } from "../rpc/http-routes.js";
import { metricsRoute } from "../rpc/metrics/metrics-route.js";
import { startRpcServer, type RpcServer, type ServerSecurity } from "../rpc/server.js";
import { createWorkerAgents, forwardOnce, type ForwardOutcome } from "./forward.js";
import { InFlight } from "./in-flight.js";
import { Picker, type RoutePolicy } from "./picker.js";
import { promptPrefix, readRequestBody, RouteError } from "./request-body.js";
import type { WorkerSource } from "./route-candidate.js";
import { RouteMetrics } from "./route-metrics.js";

export interface RouterOptions extends ServerSecurity {
  host: string;
  port: number;
  logger: Logger;
  source: WorkerSource;
  policy?: RoutePolicy;
  prefixAffinity?: boolean;
  /** Characters of the prompt that make its prefix (default 256). */
  prefixChars?: number;
  /** A prefix stays on its worker while that worker has at most this many waiting (default 0) … */
  prefixMaxWaiting?: number;
  /** … and runs (with the router's requests since its reading) at most this many more than the least busy worker (default 2). */
  prefixMaxImbalance?: number;
  /** Workers with more waiting take no more; every worker over it: 503 (default: no limit). */
  maxWaiting?: number;
  /** Header whose value keeps a session on one worker, e.g. "x-session-id". */
  sessionHeader?: string;
  /** Largest request body (default 4 MiB: long prompts). */
  maxBodyBytes?: number;
  connectTimeoutMs?: number;
  /** How long a worker that failed is passed over (default 5 s). */
  ejectMs?: number;
  /** Seconds a 503 asks the client to wait (default 1: about one report). */
  retryAfterSeconds?: number;
}

export interface Router {
  readonly url: string;
  readonly port: number;
  readonly metrics: RouteMetrics;
  readonly picker: Picker;
  readonly inFlight: InFlight;
  close(): Promise<void>;
}

const FORWARDED_PATHS = new Set(["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]);
const FORGET_INTERVAL_MS = 30_000;

/**
 * `apiary route`: an OpenAI-compatible front door on the same kind of listener as queen and hive
 * (TLS, client certificates, tokens, HTTP/1.1 and HTTP/2). Each request's `model` picks a worker
 * from the source's memory; the worker's answer streams through as it comes.
 */
export async function startRouter(opts: RouterOptions): Promise<Router> {
  const metrics = new RouteMetrics();
  const inFlight = new InFlight();
  const picker = new Picker(
    { policy: opts.policy ?? "least-loaded", prefixAffinity: opts.prefixAffinity === true, prefixMaxWaiting: opts.prefixMaxWaiting ?? 0, prefixMaxImbalance: opts.prefixMaxImbalance ?? 2, maxWaiting: opts.maxWaiting, ejectMs: opts.ejectMs ?? 5_000 },
    inFlight,
  );
  const agents = createWorkerAgents();
  const settings = {
    maxBodyBytes: opts.maxBodyBytes ?? 4 * 1024 * 1024,
    connectTimeoutMs: opts.connectTimeoutMs ?? 2_000,
    prefixChars: opts.prefixChars ?? 256,
    sessionHeader: opts.sessionHeader?.toLowerCase(),
    retryAfter: String(opts.retryAfterSeconds ?? 1),
  };
  const getRoutes = createHttpRoutes({ routes: { "/metrics": metricsRoute(metrics.registry), "/v1/models": async () => modelList(opts.source) } });

  const handleApi = async (req: HttpRequest, res: HttpResponse, path: string): Promise<void> => {
    const t0 = performance.now();
    let model = "";
    try {
      const body = await readRequestBody(req, settings.maxBodyBytes);
      model = body.model;
      const candidates = opts.source.candidates(model);
      if (candidates.length === 0) throw new RouteError(404, `model ${JSON.stringify(model)}: no worker serves it (GET /v1/models lists those served)`, "model", "model_not_found");
      const session = settings.sessionHeader ? headerValue(req, settings.sessionHeader) : undefined;
      const prefix = !session && picker.usesPrefix ? promptPrefix(body.json, settings.prefixChars) : undefined;
      const failed = new Set<string>();
      for (let attempt = 0; attempt < 2; attempt++) {
        const choice = picker.pick(attempt === 0 ? candidates : opts.source.candidates(model), { prefix, session, exclude: failed });
        if (!choice.worker) {
          if (choice.overloaded) throw new RouteError(503, `model ${JSON.stringify(model)}: every worker is over --max-waiting ${opts.maxWaiting}`, null, "overloaded", { "retry-after": settings.retryAfter });
          throw new RouteError(502, `model ${JSON.stringify(model)}: ${[...failed].join(", ")} could not be reached, and no other worker serves it`, null, "upstream_unreachable");
        }
        const worker = choice.worker;
        metrics.picked(choice.reason);
        const ticket = inFlight.start(worker);
        metrics.started(worker.key, model);
        let outcome: ForwardOutcome;
        try {
          outcome = await forwardOnce({
            req, res, baseUrl: worker.baseUrl, path, body: body.raw, agents,
            extraHeaders: { "x-apiary-worker": worker.key },
            connectTimeoutMs: settings.connectTimeoutMs,
            onFirstByte: () => metrics.firstByte(worker.key, model, (performance.now() - t0) / 1000),
          });
        } finally {
          ticket.end();
        }
        const code = outcome.kind === "answered" || outcome.kind === "broken" ? outcome.status : 0;
        metrics.finished(worker.key, model, code, (performance.now() - t0) / 1000);
        if (outcome.kind === "answered") return;
        picker.eject(worker.key);
        if (outcome.kind === "broken") {
          opts.logger.warn({ worker: worker.key, model, err: outcome.error.message }, "worker broke off a response");
          return;
        }
        if (outcome.kind === "failed") throw new RouteError(502, `worker ${worker.key} took the request and gave no answer: ${outcome.error.message}`, null, "upstream_failed");
        failed.add(worker.key);
        opts.logger.warn({ worker: worker.key, model, err: outcome.error.message }, attempt === 0 ? "worker unreachable; trying another" : "worker unreachable");
        if (attempt === 0) metrics.retried(model);
      }
      throw new RouteError(502, `model ${JSON.stringify(model)}: ${[...failed].join(" and ")} could not be reached`, null, "upstream_unreachable");
    } catch (err) {
      if (!(err instanceof RouteError)) {
        opts.logger.error({ err, path }, "route request failed");
        return errorReply(res, new RouteError(500, `router: ${(err as Error).message}`));
      }
      metrics.rejectedRequest(model, rejectReason(err));
      errorReply(res, err);
    }
  };

  const server: RpcServer = await startRpcServer({
    host: opts.host,
    port: opts.port,
    logger: opts.logger,
    services: [],
    tls: opts.tls,
    tokenFile: opts.tokenFile,
    insecure: opts.insecure,
    watchCredentials: opts.watchCredentials,
    httpRoutes: (req, res, auth) => {
      if (getRoutes(req, res, auth)) return true;
      const path = req.url ?? "/";
      const bare = path.split("?")[0];
      if (!bare.startsWith("/v1/")) return false;
      if (!authorized(req, res, auth)) return true;
      if (!FORWARDED_PATHS.has(bare)) {
        errorReply(res, new RouteError(bare === "/v1/models" ? 405 : 404, `${req.method} ${bare}: not served (POST /v1/chat/completions, /v1/completions, /v1/embeddings; GET /v1/models)`));
      } else if (req.method !== "POST") {
        errorReply(res, new RouteError(405, `${req.method} ${bare}: only POST`));
      } else {
        void handleApi(req, res, path);
      }
      return true;
    },
  });

  const forgetTimer = setInterval(() => {
    const current = new Set<string>();
    for (const model of opts.source.models()) for (const c of opts.source.candidates(model)) current.add(c.key);
    metrics.forget(current, (key) => inFlight.open(key));
  }, FORGET_INTERVAL_MS);
  forgetTimer.unref();

  return {
    url: server.url,
    port: server.port,
    metrics,
    picker,
    inFlight,
    close: async () => {
      clearInterval(forgetTimer);
      await server.close();
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

/** With authentication on, the API needs a reader (or admin) certificate or token, as read RPCs do. */
function authorized(req: HttpRequest, res: HttpResponse, auth: Authenticator): boolean {
  if (!auth.enabled) return true;
  const result = auth.authenticateHttpRequest(req, "read");
  if (result.ok) return true;
  errorReply(res, new RouteError(result.status, result.message, null, result.status === 401 ? "unauthenticated" : "permission_denied"));
  return false;
}

function modelList(source: WorkerSource) {
  const data = source.models().map((id) => ({ id, object: "model", created: 0, owned_by: "apiary", workers: source.candidates(id).length }));
  return { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify({ object: "list", data }) };
}

function headerValue(req: HttpRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function rejectReason(err: RouteError): string {
  if (err.status === 404) return "unknown_model";
  if (err.status === 503) return "overloaded";
  if (err.status === 502) return "upstream_failed";
  return "bad_request";
}

/** An OpenAI-style error body; a response already under way is cut instead (nothing else is honest). */
function errorReply(res: HttpResponse, err: RouteError): void {
  const r = res as http.ServerResponse;
  if (r.destroyed) return;
  if (r.headersSent) {
    r.destroy();
    return;
  }
  const type = err.status >= 500 ? "server_error" : "invalid_request_error";
  const body = JSON.stringify({ error: { message: err.message, type, param: err.param, code: err.code } });
  r.writeHead(err.status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...err.headers });
  r.end(body);
}
